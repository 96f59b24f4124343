/*
 * tools.h — the assistant's callable tools (DESIGN.md §5 tools/). NOT BUILT
 * YET: the intended API, recorded for planning only.
 *
 * Intended API (prefix tools_):
 *   tools_registry_new(params, &reg)           built-ins: clock/date, timers,
 *       alarms, notes, lists, reminders (SQLite, WAL, durable before the
 *       acknowledgement), calculator, home control (MQTT / Home Assistant),
 *       weather provider.
 *   tools_schemas_json(reg)                    OpenAI-style tool array for
 *       the prompt (engine_chat_render's tools_json).
 *   tools_parse(text, &calls)                  <tool_call> blocks found in
 *       streamed output, validated against the schemas.
 *   tools_call(reg, call, timeout_ms, done_cb, user_data)  runs on a tool
 *       worker; a failing or hanging tool yields an error result.
 */
#ifndef HEARTH_TOOLS_H
#define HEARTH_TOOLS_H

#include <stddef.h>

#endif
