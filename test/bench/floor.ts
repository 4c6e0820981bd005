/**
 * The floor: the work the full stack cannot skip on a cache miss, as plain
 * synchronous calls to the same functions its layers use, with no Effect, no
 * telemetry and no resilience bookkeeping:
 *
 * - the input guard's scan of each user message (`InjectionScanner`, rules and
 *   the built-in model);
 * - the output guard's canary: drawn, its instruction added to the system
 *   message (the request sent upstream carries it), and the answer checked for
 *   it, for secrets and for PII (`OutputGuard.checkText`);
 * - the exact cache's key (canonical request, SHA-256);
 * - the budget's token estimate of the request sent and its price lookups
 *   (worst case before, actual cost after).
 *
 * Left out, so the floor is low rather than high: storing the answer (a store
 * may keep it as it is), telemetry (a span, metrics and a log line cost what the
 * tracer and logger installed make them cost), rate-limit, retry and fallback
 * bookkeeping, and the budget store's reserve and settle.
 *
 * In process ({@link inProcessMicros}) it says how much of the stack's overhead
 * is the work itself; end to end (a series of e2e.ts) it says what the ratio to
 * the raw SDK would be if the layers cost nothing beyond that work.
 */
import { Effect } from "effect"
import * as ResponseCache from "../../src/cache/ResponseCache.js"
import * as Pricing from "../../src/cost/Pricing.js"
import * as Tokens from "../../src/cost/Tokens.js"
import * as InjectionScanner from "../../src/guard/InjectionScanner.js"
import * as OutputGuard from "../../src/guard/OutputGuard.js"
import * as Spotlight from "../../src/guard/Spotlight.js"
import * as Construct from "../../src/internal/construct.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import { bestCpuMicrosPerRun } from "./lib.js"
import { MODEL } from "./stacks.js"

/** The floor's two halves: before the upstream call (returns the request to send) and after it. */
export interface Floor {
  readonly before: (request: LanguageModel.Request) => { readonly send: LanguageModel.Request; readonly canary: string }
  readonly after: (send: LanguageModel.Request, canary: string, answer: string, usage: LanguageModel.Usage) => void
}

const serving = { provider: "openai", model: MODEL } as const

/** Builds the floor's work (tables and scanner compiled once, as the layers do when built). */
export const make = async (): Promise<Floor> => {
  const scanner = InjectionScanner.compile()
  const tokens = await Effect.runPromise(Tokens.counter("o200k_base"))
  const pricing = Pricing.make()
  let sink = 0
  const before = (request: LanguageModel.Request) => {
    for (const message of request.messages) {
      if (message.role === "user" && scanner.scan(message.content).flagged) throw new Error("floor: benign prompt flagged")
    }
    sink += ResponseCache.keyOf(request, serving).length
    const canary = `cnry-${Math.random().toString(36).slice(2, 12)}`
    const send = Construct.make(LanguageModel.Request, {
      ...request,
      messages: Spotlight.withSystem(request.messages, OutputGuard.canaryInstruction(canary)) as LanguageModel.Request["messages"]
    })
    const price = pricing.lookup(serving)
    if (price._tag === "None") throw new Error(`floor: ${MODEL} unpriced`)
    sink += Pricing.worstCaseOf(price.value, Tokens.countRequest(send, tokens), send.maxTokens ?? 1024)
    return { send, canary }
  }
  const after = (_send: LanguageModel.Request, canary: string, answer: string, usage: LanguageModel.Usage) => {
    if (OutputGuard.checkText(answer, {}, { canary })._tag === "Left") throw new Error("floor: benign answer refused")
    const price = pricing.lookup(serving)
    if (price._tag === "Some") sink += Pricing.costOf(price.value, usage)
  }
  void sink
  return { before, after }
}

/** CPU µs a call of the floor in process (best of 5 rounds of `n`), on `next()`'s requests and `answer`. */
export const inProcessMicros = async (
  next: () => LanguageModel.Request,
  answer: LanguageModel.Response,
  n: number
): Promise<number> => {
  const floor = await make()
  const once = Effect.sync(() => {
    const { canary, send } = floor.before(next())
    floor.after(send, canary, answer.text, answer.usage)
  })
  for (let i = 0; i < 500; i++) Effect.runSync(once)
  return Effect.runPromise(bestCpuMicrosPerRun(once, n))
}
