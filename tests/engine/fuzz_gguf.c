/*
 * fuzz_gguf.c — libFuzzer target for the GGUF reader (engine/gguf.c).
 *
 * Any input must either open or fail with a message; on success every
 * string, array element and tensor byte the handle hands out must lie in
 * the input (ASan, built with -Dsanitize=true, reports any over-read).
 *
 * Build and run (clang only; see tests/engine/meson.build):
 *   CC=clang meson setup build-fuzz -Dsanitize=true
 *   ninja -C build-fuzz tests/engine/fuzz_gguf
 *   mkdir -p fuzz-corpus
 *   /usr/bin/python3 scripts/gguf_writer.py --sample fuzz-corpus/sample.gguf
 *   ./build-fuzz/tests/engine/fuzz_gguf fuzz-corpus -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>

#include "engine_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch(const gguf *g, const uint8_t *data, size_t size)
{
	volatile uint8_t sink = 0;
	int32_t i32;
	float f;

	for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
		const gguf_kv *kv = gguf_kv_at(g, i);

		if (kv->key.len)
			sink ^= (uint8_t)kv->key.ptr[kv->key.len - 1];
		if (kv->type == GGUF_VT_STRING && kv->str.len)
			sink ^= (uint8_t)kv->str.ptr[kv->str.len - 1];
		for (uint64_t j = 0; kv->type == GGUF_VT_ARRAY && j < kv->arr_n; j++) {
			if (kv->arr_type == GGUF_VT_STRING) {
				if (kv->arr_strs[j].len)
					sink ^= (uint8_t)kv->arr_strs[j].ptr[0];
				continue;
			}
			sink ^= (uint8_t)gguf_arr_i32(kv, j, &i32);
			sink ^= (uint8_t)gguf_arr_f32(kv, j, &f);
		}
	}
	for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
		const gguf_tensor *t = gguf_tensor_at(g, i);
		const uint8_t *d = t->data;

		if (d < data || t->nbytes > size ||
		    (size_t)(d - data) > size - t->nbytes ||
		    gguf_find_tensor(g, t->name) != t)
			abort(); /* a validated tensor outside the input: a bug */
		sink ^= d[0] ^ d[t->nbytes - 1];
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ENGINE_ERRLEN];
	gguf *g = NULL;

	if (gguf_open_buffer(data, size, &g, err, sizeof(err)) == 0) {
		touch(g, data, size);
		gguf_close(g);
	} else if (g || err[0] == '\0') {
		abort(); /* failures must leave no handle and explain themselves */
	}
	return 0;
}
