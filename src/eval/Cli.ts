/**
 * The `eval` command (`@effect/cli`): runs a suite file, prints a table, writes
 * JSON / JUnit XML / HTML reports, compares with a baseline, and ends with an exit
 * code CI can act on:
 *
 * | code | meaning |
 * |---|---|
 * | 0 | every cell passed (or the pass rate reached `--min-pass-rate`) and nothing regressed |
 * | 1 | some assertion failed |
 * | 2 | the pass rate is under `--min-pass-rate`, a cell that passed in `--baseline` does not now, or no cell matched the baseline |
 * | 3 | configuration or provider error: the suite, a flag or the baseline (another suite's) is invalid, a model cannot be built, a call (or the judge) failed, the run has no cells |
 *
 * The command fails with {@link EvalExit} for a non-zero code; {@link withExitCode}
 * turns that (and a command-line `ValidationError`, code 3) into
 * `process.exitCode`, so `NodeRuntime.runMain` ends the process with it.
 *
 * `--simulator` starts the `ProviderSimulator` on loopback and points every model
 * the suite describes (OpenAI, OpenAI-compatible, Anthropic) at it with a dummy
 * key; `--simulator-handler FILE` loads a module whose `handler` export scripts
 * the simulator's answers (its default answer quotes the prompt). With a batch
 * flag it also starts the `BatchSimulator` (its jobs end at the first poll) and
 * answers batch items with the same handler.
 *
 * `--batch` submits each batchable model's calls as one provider batch job (see
 * `Eval.BatchOptions`); `--batch-min-calls N` does so only for a model with at
 * least N calls left after the cache, and calls the others live. Batch mode is
 * never on by default: a job may take up to 24 hours to answer.
 *
 * @since 0.1.0
 */
import { mkdir, readFile, writeFile } from "node:fs/promises"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Option, Redacted, Schema } from "effect"
import * as CacheStore from "../cache/CacheStore.js"
import * as BatchSimulator from "../testing/BatchSimulator.js"
import * as ProviderSimulator from "../testing/ProviderSimulator.js"
import * as Eval from "./Eval.js"
import * as Report from "./Report.js"

/**
 * The command ended with a non-zero exit code (the reasons were printed).
 *
 * @since 0.1.0
 * @category errors
 */
export class EvalExit extends Schema.TaggedError<EvalExit>("effect-llm/EvalExit")("EvalExit", {
  code: Schema.Number,
  message: Schema.String
}) {}

const suiteArg = Args.file({ name: "suite", exists: "yes" }).pipe(
  Args.withDescription("The suite file: .yaml, .yml, .json or .ts")
)

const options = {
  baseline: Options.file("baseline", { exists: "yes" }).pipe(
    Options.optional,
    Options.withDescription("A report saved with --save-baseline; a cell that passed there and fails now is a regression (exit 2)")
  ),
  saveBaseline: Options.text("save-baseline").pipe(
    Options.optional,
    Options.withDescription("Write this run's report as a baseline file")
  ),
  minPassRate: Options.float("min-pass-rate").pipe(
    Options.optional,
    Options.withDescription("Required share of passing cells, 0..1; failures above it are tolerated, under it exit 2")
  ),
  json: Options.text("json").pipe(Options.optional, Options.withDescription("Write the JSON report here")),
  junit: Options.text("junit").pipe(Options.optional, Options.withDescription("Write JUnit XML here")),
  html: Options.text("html").pipe(Options.optional, Options.withDescription("Write the HTML report here")),
  concurrency: Options.integer("concurrency").pipe(Options.optional, Options.withDescription("Cells run at once (default: the suite's, else 4)")),
  cache: Options.text("cache").pipe(
    Options.withDefault(".effect-llm/eval-cache.sqlite"),
    Options.withDescription("The response cache file (SQLite), reused by reruns")
  ),
  noCache: Options.boolean("no-cache").pipe(Options.withDescription("Call every model, read and write no cache")),
  simulator: Options.boolean("simulator").pipe(
    Options.withDescription("Run the models the suite describes against a local ProviderSimulator")
  ),
  simulatorHandler: Options.file("simulator-handler", { exists: "yes" }).pipe(
    Options.optional,
    Options.withDescription("A module exporting `handler` that scripts the simulator's answers (implies --simulator)")
  ),
  batch: Options.boolean("batch").pipe(
    Options.withDescription("Submit each model's calls as one provider batch job (half price; answers may take up to 24 h)")
  ),
  batchMinCalls: Options.integer("batch-min-calls").pipe(
    Options.optional,
    Options.withDescription("Batch a model only when it has at least N calls left after the cache (implies --batch)")
  ),
  quiet: Options.boolean("quiet").pipe(Options.withDescription("No progress lines"))
}

/**
 * The parsed command line of `eval`.
 *
 * @since 0.1.0
 * @category models
 */
export interface EvalArgs {
  readonly suite: string
  readonly baseline: Option.Option<string>
  readonly saveBaseline: Option.Option<string>
  readonly minPassRate: Option.Option<number>
  readonly json: Option.Option<string>
  readonly junit: Option.Option<string>
  readonly html: Option.Option<string>
  readonly concurrency: Option.Option<number>
  readonly cache: string
  readonly noCache: boolean
  readonly simulator: boolean
  readonly simulatorHandler: Option.Option<string>
  readonly batch: boolean
  readonly batchMinCalls: Option.Option<number>
  readonly quiet: boolean
}

const configFailure = (message: string) =>
  Effect.zipRight(Console.error(message), Effect.fail(new EvalExit({ code: Eval.ExitCode.configOrProvider, message })))

const write = (path: string, text: string) =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(NodePath.dirname(NodePath.resolve(path)), { recursive: true })
      await writeFile(path, text, "utf8")
    },
    catch: (error) => new Eval.EvalConfigError({ message: `Cannot write ${path}: ${error instanceof Error ? error.message : String(error)}` })
  })

const loadHandler = (path: string) =>
  Effect.tryPromise({
    try: () => import(pathToFileURL(NodePath.resolve(path)).href) as Promise<Record<string, unknown>>,
    catch: (error) => new Eval.EvalConfigError({ message: `Cannot import ${path}: ${error instanceof Error ? error.message : String(error)}` })
  }).pipe(Effect.flatMap((module) => {
    const handler = module["handler"] ?? module["default"]
    return typeof handler === "function"
      ? Effect.succeed(handler as ProviderSimulator.Handler)
      : Effect.fail(new Eval.EvalConfigError({ message: `${path} exports no \`handler\` function` }))
  }))

/**
 * Runs `eval` with parsed arguments: what the command's handler does. Fails with
 * {@link EvalExit} when the exit code is not 0.
 *
 * @since 0.1.0
 * @category running
 */
export const runEval = (args: EvalArgs): Effect.Effect<Eval.Report, EvalExit> =>
  Effect.scoped(Effect.gen(function*() {
    if (Option.isSome(args.minPassRate) && !(args.minPassRate.value >= 0 && args.minPassRate.value <= 1)) {
      return yield* configFailure(`--min-pass-rate must be between 0 and 1, got ${args.minPassRate.value}`)
    }
    if (Option.isSome(args.batchMinCalls) && args.batchMinCalls.value < 1) {
      return yield* configFailure(`--batch-min-calls must be at least 1, got ${args.batchMinCalls.value}`)
    }
    const batch = args.batch || Option.isSome(args.batchMinCalls)
    const loaded = yield* Eval.loadFile(args.suite)
    const baseline = Option.isSome(args.baseline)
      ? Option.some(yield* Effect.flatMap(
        Effect.tryPromise({
          try: () => readFile(args.baseline.pipe(Option.getOrThrow), "utf8"),
          catch: (e) => new Eval.EvalConfigError({ message: `Cannot read the baseline: ${String(e)}` })
        }),
        Eval.decodeReport
      ).pipe(
        // another suite's baseline compares nothing: refuse it before spending a call
        Effect.flatMap((b) => Eval.checkBaseline(loaded.suite.name, b))
      ))
      : Option.none<Eval.Report>()

    let providerOverride: Eval.ProviderOverride | undefined
    if (args.simulator || Option.isSome(args.simulatorHandler)) {
      const simulator = yield* ProviderSimulator.make()
      const handler = Option.isSome(args.simulatorHandler) ? yield* loadHandler(args.simulatorHandler.value) : undefined
      if (handler !== undefined) yield* simulator.setHandler(handler)
      providerOverride = {
        openaiBaseURL: simulator.openaiBaseURL,
        anthropicBaseURL: simulator.anthropicBaseURL,
        apiKey: Redacted.make("simulator-key")
      }
      if (!args.quiet) yield* Console.error(`Models run against the provider simulator at ${simulator.url}`)
      if (batch) {
        const batches = yield* BatchSimulator.make({ batch: { pollsUntilDone: 1 } })
        if (handler !== undefined) yield* batches.setItemHandler(BatchSimulator.fromProviderHandler(handler))
        providerOverride = { ...providerOverride, batchOpenaiBaseURL: batches.openaiBaseURL, batchAnthropicBaseURL: batches.anthropicBaseURL }
        if (!args.quiet) yield* Console.error(`Batch jobs run against the batch simulator at ${batches.url}`)
      }
    }

    const cachePath = NodePath.resolve(args.cache)
    if (!args.noCache) {
      yield* Effect.tryPromise({
        try: () => mkdir(NodePath.dirname(cachePath), { recursive: true }),
        catch: (e) => new Eval.EvalConfigError({ message: `Cannot create the cache directory: ${String(e)}` })
      })
    }
    const report = yield* Eval.run(loaded.suite, {
      models: loaded.models,
      concurrency: Option.getOrUndefined(args.concurrency),
      cache: args.noCache ? false : { store: CacheStore.layerSqlite({ filename: cachePath, storeId: "eval" }) },
      providerOverride,
      batch: batch ? { minCalls: Option.getOrUndefined(args.batchMinCalls) } : undefined,
      onBatchSubmitted: args.quiet ? undefined : ({ calls, job, model }) =>
        Console.error(`Model ${model}: ${calls} call(s) submitted as batch job ${job}; polling until it ends`),
      onProgress: args.quiet ? undefined : ({ cell, done, total }) =>
        Console.error(
          `[${String(done).padStart(String(total).length)}/${total}] ${cell.status === "pass" ? "✓" : cell.status === "fail" ? "✗" : "!"} ` +
            `${Eval.cellLabel(cell)} ${Math.round(cell.latencyMillis)}ms${cell.runs.every((r) => r.cached) ? " (cached)" : ""}` +
            `${cell.runs.some((r) => r.batch !== undefined) ? ` (batch ${cell.runs.find((r) => r.batch !== undefined)!.batch!.job})` : ""}`
        )
    })
    const comparison = Option.map(baseline, (b) => Eval.compare(report, b))
    const outcome = Eval.verdict(report, {
      minPassRate: Option.getOrUndefined(args.minPassRate),
      comparison: Option.getOrUndefined(comparison)
    })

    yield* Console.log(Report.consoleTable(report, Option.getOrUndefined(comparison)))
    if (Option.isSome(args.json)) yield* write(args.json.value, Report.json(report))
    if (Option.isSome(args.junit)) yield* write(args.junit.value, Report.junit(report))
    if (Option.isSome(args.html)) yield* write(args.html.value, Report.html(report, Option.getOrUndefined(comparison)))
    if (Option.isSome(args.saveBaseline)) yield* write(args.saveBaseline.value, Report.json(report))

    yield* Console.log(outcome.code === 0 ? "\nOK" : `\nexit ${outcome.code}: ${outcome.reasons.join("; ")}`)
    if (outcome.code !== 0) {
      return yield* Effect.fail(new EvalExit({ code: outcome.code, message: outcome.reasons.join("; ") }))
    }
    return report
  })).pipe(
    Effect.catchTag("EvalConfigError", (error) => configFailure(error.message))
  )

/**
 * The `eval` command, to mount under the main CLI with `Command.withSubcommands`.
 *
 * @since 0.1.0
 * @category commands
 */
export const evalCommand = Command.make("eval", { suite: suiteArg, ...options }, runEval).pipe(
  Command.withDescription(
    "Run an evaluation suite (prompts × models × cases). Exit 0: all holds; 1: assertion failures; " +
      "2: pass rate under --min-pass-rate or a regression against --baseline; 3: configuration or provider error."
  )
)

/**
 * The exit code an `eval` run ended with (also 3 for a command-line error).
 *
 * @since 0.1.0
 * @category running
 */
export const exitCodeOf = (error: unknown): number | undefined =>
  error instanceof EvalExit
    ? error.code
    : ValidationError.isValidationError(error)
    ? Eval.ExitCode.configOrProvider
    : undefined

/**
 * Sets `process.exitCode` from an `EvalExit` or a command-line `ValidationError`
 * (code 3) and succeeds, so `NodeRuntime.runMain` lets the process end with that
 * code without logging the expected failure. Other errors pass through.
 *
 * @since 0.1.0
 * @category running
 */
export const withExitCode = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A | void, E, R> =>
  Effect.catchIf(self, (error) => exitCodeOf(error) !== undefined, (error) =>
    Effect.sync(() => {
      process.exitCode = exitCodeOf(error)
    }))
