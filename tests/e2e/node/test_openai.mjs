// e2e: the official `openai` npm client against the real `hearth serve` on
// 127.0.0.1 with a random-weight qwen2 model (scripts/make_test_model.py).
// Checks protocol compatibility: the client parses our responses, streams
// and errors into its own types. Skips (77) unless run.sh installed the
// client: npm ci --prefix tests/e2e/node
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, "node_modules", "openai"))) {
  console.log("SKIP: the openai npm package is not installed (npm ci --prefix tests/e2e/node)");
  process.exit(77);
}
const { default: OpenAI } = await import("openai");
const SRC = process.env.HEARTH_SRC ?? join(here, "../../..");
const HEARTH = join(process.env.HEARTH_BUILD, "app", "hearth");
let fails = 0;
const check = (name, ok, detail = "") => {
  console.log(`${ok ? "ok" : "FAIL"}: ${name}${ok ? "" : "  " + JSON.stringify(detail).slice(0, 400)}`);
  if (!ok) fails++;
};

const freePort = () => new Promise((res) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
});

const tmp = mkdtempSync(join(tmpdir(), "hearth-node-"));
const gen = spawnSync(process.env.HEARTH_PYTHON ?? "/usr/bin/python3",
  [join(SRC, "scripts/make_test_model.py"), "--arch", "qwen2", "--type", "Q8_0", "--out", join(tmp, "m")],
  { encoding: "utf8", timeout: 120000 });
if (gen.status !== 0) { console.log("SKIP: cannot write the test model", gen.stderr); process.exit(77); }

const port = await freePort();
const srv = spawn(HEARTH, ["serve", "--listen", `127.0.0.1:${port}`, "--model", join(tmp, "m.gguf"), "--ctx", "1024"],
  { stdio: ["ignore", "ignore", "pipe"] });
let log = "";
srv.stderr.on("data", (d) => { log += d; });
for (let i = 0; i < 100; i++) {
  try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break; } catch { /* not yet */ }
  await new Promise((r) => setTimeout(r, 100));
}

const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "unused-on-loopback", maxRetries: 0 });
const tools = [{ type: "function", function: { name: "set_light", description: "switch a light",
  parameters: { type: "object", properties: { entity: { type: "string" } } } } }];
try {
  const models = await client.models.list();
  check("models.list", models.data.length === 1 && models.data[0].id.length > 0, models.data);

  const r = await client.chat.completions.create({ model: "hearth", max_tokens: 6, seed: 1,
    messages: [{ role: "system", content: "You are Hearth." }, { role: "user", content: "hello" }] });
  check("chat non-streaming", r.object === "chat.completion" && typeof r.choices[0].message.content === "string"
    && r.usage.completion_tokens >= 1, r);

  const stream = await client.chat.completions.create({ model: "hearth", max_tokens: 6, seed: 1, stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "system", content: "You are Hearth." }, { role: "user", content: "hello" }] });
  let text = "", finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    usage = chunk.usage ?? usage;
  }
  check("chat streaming: same text as non-streaming with the same seed", text === r.choices[0].message.content,
    [text, r.choices[0].message.content]);
  check("chat streaming: finish_reason and usage", finish && usage && usage.completion_tokens >= 1, [finish, usage]);

  // tool round trip: the assistant's call and the tool's result in the history
  const t = await client.chat.completions.create({ model: "hearth", max_tokens: 6, tools,
    messages: [{ role: "user", content: "kitchen light on" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function",
        function: { name: "set_light", arguments: "{\"entity\":\"light.kitchen\"}" } }] },
      { role: "tool", tool_call_id: "call_1", content: "{\"ok\":true}" }] });
  check("tool result round trip", t.choices.length === 1, t);
  const f = await client.chat.completions.create({ model: "hearth", max_tokens: 8, tools,
    tool_choice: { type: "function", function: { name: "set_light" } },
    messages: [{ role: "user", content: "kitchen light on" }] });
  const m = f.choices[0].message;
  check("forced tool choice: a call or the broken call as text",
    (m.tool_calls && m.tool_calls[0].function.name === "set_light") ||
    (m.content ?? "").startsWith("<tool_call>"), m);

  try {
    await client.chat.completions.create({ model: "hearth", messages: [{ role: "robot", content: "x" }] });
    check("400 → BadRequestError", false, "no error");
  } catch (e) {
    check("400 → BadRequestError", e instanceof OpenAI.BadRequestError && e.status === 400 &&
      e.param === "messages.role", [e.constructor.name, e.status, e.param]);
  }
  try {
    await client.chat.completions.create({ model: "hearth", max_tokens: "x", messages: [{ role: "user", content: "x" }] });
    check("wrong type → BadRequestError", false, "no error");
  } catch (e) {
    check("wrong type → BadRequestError", e instanceof OpenAI.BadRequestError && e.param === "max_tokens", e.message);
  }
} catch (e) {
  check("no unexpected exception", false, String(e && e.stack));
}
srv.kill("SIGTERM");
const rc = await new Promise((res) => srv.on("exit", (code) => res(code)));
check("server exits 0 (ASan clean)", rc === 0 && !log.includes("AddressSanitizer"), log.slice(-2000));
console.log(`${fails} failure(s)`);
process.exit(fails ? 1 : 0);
