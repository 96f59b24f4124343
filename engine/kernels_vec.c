/*
 * kernels_vec.c — the vector kernels of the forward pass other than
 * matmul (attention over the F16 KV cache, softmax, SwiGLU, f32 → f16
 * rows): their scalar reference, and the entry points that hand each call
 * to the active SIMD path (the one engine_matmul uses) when it has one.
 *
 * Threading: pure functions of their arguments; any thread.
 */
#include "kernels_int.h"

#include <math.h>

/* ---------------------------------------------------------------------------
 * Scalar reference (what every SIMD version is tested against).
 */
static void ref_attn_scores_f16(const float *q, const ggml_half *k,
				size_t k_stride, int n_kv, int hd, float scale,
				float *s)
{
	for (int j = 0; j < n_kv; j++) {
		const ggml_half *kj = k + (size_t)j * k_stride;
		float acc = 0.0f;

		for (int d = 0; d < hd; d++)
			acc += q[d] * engine_fp16_to_fp32(kj[d]);
		s[j] = acc * scale;
	}
}

static void ref_attn_values_f16(const float *p, const ggml_half *v,
				size_t v_stride, int n_kv, int hd, float *o)
{
	for (int d = 0; d < hd; d++)
		o[d] = 0.0f;
	for (int j = 0; j < n_kv; j++) {
		const ggml_half *vj = v + (size_t)j * v_stride;

		for (int d = 0; d < hd; d++)
			o[d] += p[j] * engine_fp16_to_fp32(vj[d]);
	}
}

static float ref_softmax(float *s, int n)
{
	float mx = s[0], sum = 0.0f;

	for (int i = 1; i < n; i++)
		mx = s[i] > mx ? s[i] : mx;
	for (int i = 0; i < n; i++) {
		s[i] = expf(s[i] - mx);
		sum += s[i];
	}
	return sum;
}

static void ref_swiglu(float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void ref_f32_to_f16(const float *x, ggml_half *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h[i] = engine_fp32_to_fp16(x[i]);
}

/* Attention from the three steps (any path's, or the scalar ones). */
static void compose_attn_f16(const engine_kernels *kp, const float *q, int n_q,
			     const ggml_half *k, const ggml_half *v,
			     size_t kv_stride, int n_kv, int hd, float scale,
			     float *sc, float *o)
{
	for (int h = 0; h < n_q; h++) {
		float *s = sc + (size_t)h * (size_t)n_kv, inv;
		float *oh = o + (size_t)h * (size_t)hd;

		(kp->attn_scores_f16 ? kp->attn_scores_f16 : ref_attn_scores_f16)(
			q + (size_t)h * (size_t)hd, k, kv_stride, n_kv, hd, scale, s);
		inv = 1.0f / (kp->softmax ? kp->softmax : ref_softmax)(s, n_kv);
		(kp->attn_values_f16 ? kp->attn_values_f16 : ref_attn_values_f16)(
			s, v, kv_stride, n_kv, hd, oh);
		for (int d = 0; d < hd; d++)
			oh[d] *= inv;
	}
}

/* ---------------------------------------------------------------------------
 * Entry points.
 */
void engine_attn_f16(const float *q, int n_q, const ggml_half *k,
		     const ggml_half *v, size_t kv_stride, int n_kv, int hd,
		     float scale, float *sc, float *o)
{
	const engine_kernels *kp = engine_kernels_active();

	if (kp->attn_f16)
		kp->attn_f16(q, n_q, k, v, kv_stride, n_kv, hd, scale, sc, o);
	else
		compose_attn_f16(kp, q, n_q, k, v, kv_stride, n_kv, hd, scale, sc, o);
}

void engine_attn_scores_f16(const float *q, const ggml_half *k,
			    size_t k_stride, int n_kv, int hd, float scale,
			    float *s)
{
	const engine_kernels *kp = engine_kernels_active();

	(kp->attn_scores_f16 ? kp->attn_scores_f16 : ref_attn_scores_f16)(
		q, k, k_stride, n_kv, hd, scale, s);
}

void engine_attn_values_f16(const float *p, const ggml_half *v,
			    size_t v_stride, int n_kv, int hd, float *o)
{
	const engine_kernels *kp = engine_kernels_active();

	(kp->attn_values_f16 ? kp->attn_values_f16 : ref_attn_values_f16)(
		p, v, v_stride, n_kv, hd, o);
}

float engine_softmax(float *s, int n)
{
	const engine_kernels *kp = engine_kernels_active();

	return (kp->softmax ? kp->softmax : ref_softmax)(s, n);
}

void engine_swiglu(float *g, const float *u, size_t n)
{
	const engine_kernels *kp = engine_kernels_active();

	(kp->swiglu ? kp->swiglu : ref_swiglu)(g, u, n);
}

void engine_f32_to_f16_row(const float *x, ggml_half *h, size_t n)
{
	const engine_kernels *kp = engine_kernels_active();

	(kp->f32_to_f16 ? kp->f32_to_f16 : ref_f32_to_f16)(x, h, n);
}
