/*
 * audio.h — capture, files, resampling, voice activity and speech-to-tokens
 * (DESIGN.md §5 audio/). NOT BUILT YET: this header records the intended API
 * so the stages above can be planned against it; nothing here is declared
 * as a function until it exists.
 *
 * Intended API (prefix audio_, handles opaque, errors from engine.h):
 *   audio_capture_open(params, on_samples cb, user_data, &cap)  PortAudio;
 *       the callback side writes into a lock-free SPSC ring only.
 *   audio_file_read(path, &pcm16k, &n)       libsndfile + libsoxr: any rate
 *       and channel count in, 16 kHz mono f32 out.
 *   audio_vad_new(model, params, &vad) / audio_vad_feed(vad, pcm, n, events)
 *       speech_started / speech_stopped with a configurable silence.
 *   audio_logmel(pcm, n, n_mels, out)        Whisper-compatible features.
 *   audio_asr_new(engine model, &asr) / audio_asr_feed(asr, pcm, n, cb)
 *       streaming Whisper-architecture recognizer on engine kernels.
 *
 * Threads: capture callback → ring; everything else on the scheduler.
 */
#ifndef HEARTH_AUDIO_H
#define HEARTH_AUDIO_H

#include "engine.h"

#endif
