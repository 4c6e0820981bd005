import { describe, expect, it } from "@effect/vitest"
import { Console, Effect } from "effect"
import * as Demo from "../src/cli/Demo.js"
import * as GatewayConfig from "../src/gateway/Config.js"

const capture = Effect.map(Effect.console, (base) => {
  const lines: Array<string> = []
  const push = (...args: ReadonlyArray<unknown>) => Effect.sync(() => void lines.push(args.map(String).join(" ")))
  const console: Console.Console = { ...base, log: push, error: push, info: push, warn: push }
  return { lines, console }
})

describe("demo", () => {
  it.live("walks through every step and shows each pattern working", () =>
    Effect.gen(function*() {
      const { console, lines } = yield* capture
      yield* Effect.withConsole(Demo.run, console)
      const out = lines.join("\n")
      expect(out).toMatch(/1\. A first call[\s\S]*served by openai\/gpt-4\.1-mini.*\$0\.0000/)
      expect(out).toMatch(/cache: exact/)
      expect(out).toMatch(/served by anthropic\/claude-sonnet-5-5/)
      expect(out).toMatch(/gap between the 429 and the retry: 1\d{3} ms/)
      expect(out).toMatch(/"sentiment":"positive"/)
      expect(out).toMatch(/time to first token: \d+ ms; usage: \d+ in, \d+ out/)
      expect(out).toMatch(/HTTP 400 prompt_injection_detected/)
      expect(out).toMatch(/HTTP 200: \{"summary"/)
      expect(out).toMatch(/\d+ calls served for \$[\d.]+ of the \$0\.002 daily limit[\s\S]*HTTP 429 budget_exceeded/)
      expect(out).toMatch(/HTTP 400 invalid_request/)
    }))
})

describe("gateway config file", () => {
  it.effect("validates the gateway and stack sections with paths", () =>
    Effect.gen(function*() {
      const ok = yield* GatewayConfig.decode({
        gateway: { port: 8787, keys: [{ tenant: "acme", keyEnv: "GATEWAY_KEY_ACME" }] },
        stack: { providers: { main: { type: "openai", model: "gpt-4.1-mini" } } }
      })
      expect(ok.stack.providers.main!.model).toBe("gpt-4.1-mini")
      const noKeys = yield* Effect.flip(GatewayConfig.decode({ gateway: { keys: [] }, stack: {} }))
      expect(noKeys.message).toContain("keys")
      const badStack = yield* Effect.flip(GatewayConfig.decode({
        gateway: { keys: [{ tenant: "a", keyEnv: "K" }] },
        stack: { providers: { main: { type: "openai" } } }
      }))
      expect(badStack.path).toBe("stack.providers.main.model")
    }))

  it.effect("the example gateway.yaml is valid", () =>
    Effect.gen(function*() {
      const config = yield* GatewayConfig.load("examples/gateway.yaml")
      expect(config.gateway.keys.map((k) => k.tenant)).toEqual(["acme", "globex"])
      expect(Object.keys(config.stack.providers)).toEqual(["primary", "backup", "local"])
    }))
})
