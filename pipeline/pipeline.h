/*
 * pipeline.h — sessions, turns, prompt building, the scheduler that owns
 * the engine, latency tracing and backends (DESIGN.md §5 pipeline/). NOT
 * BUILT YET: the intended API, recorded for planning only.
 *
 * Intended API (prefix pipeline_):
 *   pipeline_new(params, &pl)                  loads the model, starts the
 *       scheduler thread and the tool workers.
 *   pipeline_session_new(pl, settings, &sess)  history + KV context + tools.
 *   pipeline_submit(sess, turn, event_cb, user_data)  queue a turn; events
 *       (deltas, tool calls, done with timings) come back on event_cb from
 *       the scheduler thread, to be forwarded to the services loop.
 *   pipeline_cancel(sess)                      barge-in / disconnect.
 */
#ifndef HEARTH_PIPELINE_H
#define HEARTH_PIPELINE_H

#include "audio.h"
#include "engine.h"
#include "tools.h"
#include "vision.h"

#endif
