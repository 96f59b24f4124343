/*
 * vision.h — image decoding and the image encoder (DESIGN.md §5 vision/).
 * NOT BUILT YET: the intended API, recorded for planning only.
 *
 * Intended API (prefix vision_):
 *   vision_image_decode(bytes, n, limits, &img)   PNG (libpng) and JPEG
 *       (libjpeg-turbo) with pixel-count limits and clear errors.
 *   vision_model_load(params, &vm)                 CLIP/SigLIP ViT from an
 *       mmproj-style GGUF, projector mlp (LLaVA) or idefics3 (SmolVLM).
 *   vision_encode(vm, img, embd_out, &n_tokens)    (n_tokens, n_embd) f32
 *       embeddings fed to engine_eval_embd(); cached by content hash.
 */
#ifndef HEARTH_VISION_H
#define HEARTH_VISION_H

#include "engine.h"

#endif
