import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as NodePath from "node:path"
import { Command } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Cli from "../src/eval/Cli.js"
import * as Eval from "../src/eval/Eval.js"

const dir = mkdtempSync(NodePath.join(tmpdir(), "eval-cli-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const tmp = (name: string) => NodePath.join(dir, name)

const example = "evals/example.suite.yaml"
const handler = "evals/example.simulator.ts"
const brokenHandler = tmp("broken.simulator.ts")
writeFileSync(
  brokenHandler,
  `import { makeHandler } from ${JSON.stringify(NodePath.resolve("evals/example.simulator.ts"))}\nexport const handler = makeHandler({ broken: true })\n`
)

/** The example suite's shape with one case that no answer satisfies, and one model. */
const failing = tmp("failing.suite.yaml")
writeFileSync(
  failing,
  `name: failing
prompts: ["{{task}}"]
models:
  - { name: sim, provider: openai, model: gpt-4o-mini }
cases:
  - id: right
    vars: { task: "Compute 2 + 2. Answer with the number only." }
    assertions: [{ type: equals, value: "4" }]
  - id: wrong-expectation
    vars: { task: "Compute 2 + 3. Answer with the number only." }
    assertions: [{ type: equals, value: "6" }]
`
)

const cli = Command.run(Command.make("effect-llm").pipe(Command.withSubcommands([Cli.evalCommand])), {
  name: "effect-llm",
  version: "0.1.0"
})

/** Runs `effect-llm eval ...` in-process; returns the exit code and what was printed. */
const run = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    const console = yield* Effect.console
    const capture = {
      ...console,
      log: (...xs: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(xs.join(" "))),
      error: (...xs: ReadonlyArray<unknown>) => Effect.sync(() => void out.push(xs.join(" ")))
    }
    const result = yield* cli(["node", "effect-llm", "eval", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.provide(NodeContext.layer),
      Effect.either
    )
    const code = Either.isRight(result) ? 0 : Cli.exitCodeOf(result.left)
    return { code, out: out.join("\n") }
  })

describe("eval command (in-process)", () => {
  it.live("exit 0: the example suite passes on the simulator; JSON, JUnit, HTML and a baseline are written", () =>
    Effect.gen(function*() {
      const { code, out } = yield* run(
        example,
        "--simulator-handler", handler,
        "--no-cache",
        "--json", tmp("out/report.json"),
        "--junit", tmp("out/junit.xml"),
        "--html", tmp("out/report.html"),
        "--save-baseline", tmp("baseline.json")
      )
      expect(code, out).toBe(0)
      expect(out).toContain("Passed 14/14 (100.0%)")
      expect(out).toMatch(/\[14\/14\] ✓/)
      const report = yield* Eval.decodeReport(readFileSync(tmp("out/report.json"), "utf8"))
      expect(report.summary.passed).toBe(14)
      expect(readFileSync(tmp("out/junit.xml"), "utf8")).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="example" tests="14" failures="0" errors="0"/)
      expect(readFileSync(tmp("out/report.html"), "utf8")).toContain("<table class=\"matrix\"")
      expect(existsSync(tmp("baseline.json"))).toBe(true)
    }), { timeout: 20_000 })

  it.live("exit 2: a regression against the saved baseline", () =>
    Effect.gen(function*() {
      if (!existsSync(tmp("baseline.json"))) {
        const saved = yield* run(example, "--simulator-handler", handler, "--no-cache", "--quiet", "--save-baseline", tmp("baseline.json"))
        expect(saved.code).toBe(0)
      }
      const { code, out } = yield* run(example, "--simulator-handler", brokenHandler, "--no-cache", "--quiet", "--baseline", tmp("baseline.json"))
      expect(code, out).toBe(2)
      expect(out).toContain("2 regression(s)")
      expect(out).toContain("↓ arithmetic-multiply / task / openai-mini: pass → fail")
    }), { timeout: 20_000 })

  it.live("exit 1 on an assertion failure; --min-pass-rate tolerates it above the rate (0) and not under it (2)", () =>
    Effect.gen(function*() {
      const plain = yield* run(failing, "--simulator-handler", handler, "--no-cache", "--quiet")
      expect(plain.code, plain.out).toBe(1)
      expect(plain.out).toContain("✗ wrong-expectation / p1 / sim: equals: expected \"6\", got \"5\"")
      const tolerated = yield* run(failing, "--simulator-handler", handler, "--no-cache", "--quiet", "--min-pass-rate", "0.5")
      expect(tolerated.code, tolerated.out).toBe(0)
      const under = yield* run(failing, "--simulator-handler", handler, "--no-cache", "--quiet", "--min-pass-rate", "0.75")
      expect(under.code, under.out).toBe(2)
      expect(under.out).toContain("pass rate 50.0% is under the required 75.0%")
    }), { timeout: 20_000 })

  it.live("exit 3: an invalid suite, a missing key, a provider error, a bad flag value, an unknown flag", () =>
    Effect.gen(function*() {
      const invalid = tmp("invalid.suite.yaml")
      writeFileSync(invalid, "name: x\nprompts: ['{{missing}}']\nmodels: [m]\ncases: [{ id: c }]\n")
      const bad = yield* run(invalid, "--no-cache")
      expect(bad.code).toBe(3)
      expect(bad.out).toContain("case c gives no value for {{missing}}")

      const keyless = tmp("keyless.suite.yaml")
      writeFileSync(keyless, "name: k\nprompts: [hi]\nmodels: [{ name: a, provider: anthropic, model: claude-haiku-4-5, apiKeyEnv: EVAL_CLI_NO_SUCH_KEY }]\ncases: [{ id: c }]\n")
      const noKey = yield* run(keyless, "--no-cache")
      expect(noKey.code).toBe(3)
      expect(noKey.out).toContain("EVAL_CLI_NO_SUCH_KEY")

      const faulty = tmp("faulty.simulator.ts")
      writeFileSync(faulty, "export const handler = () => ({ fault: { kind: 'error', status: 401, message: 'bad key' } })\n")
      const provider = yield* run(failing, "--simulator-handler", faulty, "--no-cache", "--quiet")
      expect(provider.code).toBe(3)
      expect(provider.out).toContain("AuthenticationFailed")

      expect((yield* run(failing, "--simulator", "--min-pass-rate", "1.5", "--no-cache")).code).toBe(3)
      expect((yield* run(failing, "--no-such-flag")).code).toBe(3)
      expect((yield* run("evals/does-not-exist.yaml")).code).toBe(3)
    }), { timeout: 20_000 })

  it.live("exit 3: a baseline saved from another suite is refused before any call", () =>
    Effect.gen(function*() {
      const saved = yield* run(failing, "--simulator-handler", handler, "--no-cache", "--quiet", "--save-baseline", tmp("failing.baseline.json"))
      expect(saved.code, saved.out).toBe(1)
      const { code, out } = yield* run(example, "--simulator-handler", handler, "--no-cache", "--baseline", tmp("failing.baseline.json"))
      expect(code, out).toBe(3)
      expect(out).toContain("The baseline is a report of suite \"failing\", not of \"example\"")
      // refused before running: no progress line, no table
      expect(out).not.toMatch(/\[\s*1\/14\]/)
      expect(out).not.toContain("Passed")
    }), { timeout: 20_000 })

  it.live("the response cache file makes a rerun call nothing", () =>
    Effect.gen(function*() {
      const cache = tmp("cache/eval.sqlite")
      const first = yield* run(failing, "--simulator-handler", handler, "--cache", cache, "--quiet", "--json", tmp("c1.json"))
      const second = yield* run(failing, "--simulator-handler", handler, "--cache", cache, "--quiet", "--json", tmp("c2.json"))
      expect([first.code, second.code]).toEqual([1, 1])
      const r1 = yield* Eval.decodeReport(readFileSync(tmp("c1.json"), "utf8"))
      const r2 = yield* Eval.decodeReport(readFileSync(tmp("c2.json"), "utf8"))
      expect(r1.summary.cachedCalls).toBe(0)
      expect(r2.summary.cachedCalls).toBe(2)
      expect(r2.cells.map((c) => c.runs[0]!.output)).toEqual(r1.cells.map((c) => c.runs[0]!.output))
    }), { timeout: 20_000 })
})

describe("eval command --batch (in-process, simulators)", () => {
  it.live("--batch: the example suite passes with every call batched (exit 0); the report says so", () =>
    Effect.gen(function*() {
      const { code, out } = yield* run(example, "--simulator-handler", handler, "--no-cache", "--batch", "--json", tmp("batch.json"))
      expect(code, out).toBe(0)
      expect(out).toContain("Passed 14/14 (100.0%)")
      expect(out).toMatch(/Model openai-mini: 7 call\(s\) submitted as batch job batch_sim\d+; polling until it ends/)
      expect(out).toMatch(/\[14\/14\] ✓ .* \(batch (batch|msgbatch)_sim\d+\)/)
      expect(out).toContain("Batch mode: 14 of 14 call(s) answered by provider batch jobs")
      const report = yield* Eval.decodeReport(readFileSync(tmp("batch.json"), "utf8"))
      expect(report.summary.batchedCalls).toBe(14)
      expect(report.summary.batches!.map((t) => t.outcome)).toEqual(["batched", "batched"])
    }), { timeout: 20_000 })

  it.live("exit codes are unchanged: 1 for a failed assertion, 3 for a failed batch item or a bad --batch-min-calls", () =>
    Effect.gen(function*() {
      const failed = yield* run(failing, "--simulator-handler", handler, "--no-cache", "--quiet", "--batch")
      expect(failed.code, failed.out).toBe(1)
      expect(failed.out).toContain("✗ wrong-expectation / p1 / sim: equals: expected \"6\", got \"5\"")
      expect(failed.out).toContain("Batch mode: 2 of 2 call(s)")

      const under = yield* run(failing, "--simulator-handler", handler, "--no-cache", "--quiet", "--batch-min-calls", "5")
      expect(under.code, under.out).toBe(1)
      expect(under.out).toContain("sim: called live: 2 call(s) to make, under the batch minimum of 5")

      const faulty = tmp("faulty-batch.simulator.ts")
      writeFileSync(faulty, "export const handler = () => ({ fault: { kind: 'error', status: 401, message: 'bad key' } })\n")
      const item = yield* run(failing, "--simulator-handler", faulty, "--no-cache", "--quiet", "--batch")
      expect(item.code, item.out).toBe(3)
      expect(item.out).toContain("error: AuthenticationFailed: bad key")

      expect((yield* run(failing, "--simulator", "--batch-min-calls", "0", "--no-cache")).code).toBe(3)
    }), { timeout: 20_000 })
})

describe("eval command (a real process)", () => {
  it("src/eval/bin.ts exits with code 2 when the pass rate is under --min-pass-rate", async () => {
    const child = spawn(process.execPath, [
      "--import", "tsx", "--conditions=source", "src/eval/bin.ts",
      "eval", failing, "--simulator-handler", handler, "--no-cache", "--quiet", "--min-pass-rate", "0.9"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d.toString()))
    child.stderr.on("data", (d: Buffer) => (output += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve))
    expect(code, output).toBe(2)
    expect(output).toContain("exit 2: pass rate 50.0% is under the required 90.0%")
  }, 60_000)
})
