import { describe, expect, it } from "@effect/vitest"
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberRef,
  Layer,
  Option,
  RuntimeFlags,
  RuntimeFlagsPatch,
  Scope,
  Stream,
  TestClock
} from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Retry from "../src/resilience/Retry.js"
import * as Timeout from "../src/resilience/internal/timeout.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const request: LanguageModel.RequestInput = { messages: [{ role: "user", content: "hello" }] }

const unavailable = () => new LlmError.ProviderUnavailable({ kind: "server", status: 500, message: "boom" })

/** A scripted model that records the (TestClock) time of every call. */
const timed = (steps: ReadonlyArray<ScriptedModel.Step>, options: Retry.Options) => {
  const times: Array<number> = []
  const script: ScriptedModel.Script = (_request, index) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      times.push(now)
      return steps[Math.min(index, steps.length - 1)]!
    })
  const layer = Retry.layer(options).pipe(Layer.provideMerge(ScriptedModel.layer(script)))
  return { times, layer }
}

describe("Retry", () => {
  it.effect("backoff delays follow the schedule", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([unavailable(), unavailable(), unavailable(), { text: "ok" }], {
        baseDelay: "1 second",
        jitter: false,
        maxAttempts: 4
      })
      const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("999 millis")
      expect(times).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(times).toEqual([0, 1000])
      yield* TestClock.adjust("1999 millis")
      expect(times).toEqual([0, 1000])
      yield* TestClock.adjust("1 millis")
      expect(times).toEqual([0, 1000, 3000])
      yield* TestClock.adjust("4 seconds")
      expect(times).toEqual([0, 1000, 3000, 7000])
      const response = yield* Fiber.join(fiber)
      expect(response.text).toBe("ok")
      expect(response.attempts.map((a) => a.outcome)).toEqual(["failure", "failure", "failure", "success"])
      expect(response.attempts[0]!.error).toBe("ProviderUnavailable")
    }))

  it.effect("delays are capped at maxDelay", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([unavailable(), unavailable(), unavailable(), { text: "ok" }], {
        baseDelay: "1 second",
        factor: 10,
        maxDelay: "3 seconds",
        jitter: false
      })
      const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      expect(times).toEqual([0, 1000, 4000, 7000])
    }))

  it.effect("jittered delays stay within 0.8x to 1.2x of the exponential ones", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([unavailable(), unavailable(), unavailable(), { text: "ok" }], {
        baseDelay: "1 second"
      })
      const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      const gaps = times.slice(1).map((t, i) => t - times[i]!)
      ;[1000, 2000, 4000].forEach((base, i) => {
        expect(gaps[i]).toBeGreaterThanOrEqual(base * 0.8)
        expect(gaps[i]).toBeLessThanOrEqual(base * 1.2)
      })
    }))

  it.effect("a 429 with retry-after 7s is not retried before 7s", () =>
    Effect.gen(function*() {
      const limited = new LlmError.RateLimited({ source: "provider", retryAfterMillis: 7000, message: "slow down" })
      const { layer, times } = timed([limited, { text: "ok" }], { baseDelay: "100 millis", jitter: false })
      const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("6999 millis")
      expect(times).toEqual([0])
      yield* TestClock.adjust("1 millis")
      expect(times).toEqual([0, 7000])
      const response = yield* Fiber.join(fiber)
      expect(response.attempts.map((a) => a.error ?? a.outcome)).toEqual(["RateLimited", "success"])
    }))

  it.effect("non-retryable errors are not retried", () =>
    Effect.gen(function*() {
      for (
        const error of [
          new LlmError.InvalidRequest({ status: 400, message: "bad" }),
          new LlmError.QuotaExhausted({ status: 429, message: "no credit" }),
          new LlmError.AuthenticationFailed({ status: 401, message: "no key" })
        ]
      ) {
        const { layer, times } = timed([error, { text: "ok" }], { baseDelay: "1 millis" })
        const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer), Effect.flip))
        yield* TestClock.adjust("1 minute")
        const failure = yield* Fiber.join(fiber)
        expect(failure._tag).toBe(error._tag)
        expect(times.length).toBe(1)
      }
    }))

  it.effect("gives up after maxAttempts with the last error", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([unavailable()], { baseDelay: "1 second", jitter: false, maxAttempts: 3 })
      const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer), Effect.flip))
      yield* TestClock.adjust("1 minute")
      const failure = yield* Fiber.join(fiber)
      expect(failure._tag).toBe("ProviderUnavailable")
      expect(times).toEqual([0, 1000, 3000])
    }))

  it.effect("a retry-after beyond the total budget fails at once", () =>
    Effect.gen(function*() {
      const limited = new LlmError.RateLimited({ source: "provider", retryAfterMillis: 90_000, message: "later" })
      const { layer, times } = timed([limited, { text: "ok" }], { budget: "1 minute" })
      const failure = yield* LanguageModel.generate(request).pipe(Effect.provide(layer), Effect.flip)
      expect(failure._tag).toBe("RateLimited")
      expect(times).toEqual([0])
    }))

  it.effect("an attempt that times out is a ProviderUnavailable timeout, and is retried", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([{ text: "slow", latency: "1 hour" }, { text: "fast" }], {
        attemptTimeout: "10 seconds",
        baseDelay: "1 second",
        jitter: false
      })
      const fiber = yield* Effect.fork(LanguageModel.generate(request).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("11 seconds")
      const response = yield* Fiber.join(fiber)
      expect(response.text).toBe("fast")
      expect(times).toEqual([0, 11_000])
      expect(response.attempts[0]!.error).toBe("ProviderUnavailable")
      expect(response.attempts[0]!.message).toContain("No answer within")
      expect(response.attempts[0]!.durationMillis).toBe(10_000)
    }))

  it.effect("a stream that fails before its first event is retried and Finish lists the attempts", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([unavailable(), { text: "hello there" }], { baseDelay: "1 second", jitter: false })
      const fiber = yield* Effect.fork(
        LanguageModel.stream(request).pipe(Stream.runCollect, Effect.provide(layer))
      )
      yield* TestClock.adjust("1 second")
      const events = [...(yield* Fiber.join(fiber))]
      expect(times).toEqual([0, 1000])
      const finish = events.at(-1)
      expect(finish?._tag).toBe("Finish")
      if (finish?._tag === "Finish") expect(finish.attempts.map((a) => a.outcome)).toEqual(["failure", "success"])
      expect(events.filter((e) => e._tag === "TextDelta").map((e) => e._tag === "TextDelta" && e.text).join("")).toBe(
        "hello there"
      )
    }))

  it.effect("a stream that fails after its first event is not retried", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([
        { text: "one two three", failMidStream: { after: 1, error: unavailable() } },
        { text: "never" }
      ], { baseDelay: "1 second" })
      const seen: Array<string> = []
      const fiber = yield* Effect.fork(
        LanguageModel.stream(request).pipe(
          Stream.tap((e) => Effect.sync(() => e._tag === "TextDelta" && seen.push(e.text))),
          Stream.runDrain,
          Effect.flip,
          Effect.provide(layer)
        )
      )
      yield* TestClock.adjust("1 minute")
      const failure = yield* Fiber.join(fiber)
      expect(failure._tag).toBe("ProviderUnavailable")
      expect(seen).toEqual(["one "])
      expect(times).toEqual([0])
    }))

  it.effect("a stream dropped before Finish is retried only if nothing was emitted", () =>
    Effect.gen(function*() {
      const { layer, times } = timed([{ text: "a b", dropAfter: 0 }, { text: "a b" }], {
        baseDelay: "1 second",
        jitter: false
      })
      const fiber = yield* Effect.fork(
        LanguageModel.stream(request).pipe(LanguageModel.collect, Effect.provide(layer))
      )
      yield* TestClock.adjust("1 minute")
      const response = yield* Fiber.join(fiber)
      expect(response.text).toBe("a b")
      expect(times).toEqual([0, 1000])
    }))

  describe("with the live clock (the one-fiber timeout)", () => {
    /** A model whose first call never answers (until interrupted) and whose later calls answer at once. */
    const hanging = () => {
      let calls = 0
      let interrupted = 0
      const inner: LanguageModel.Service = {
        models: [{ provider: "test", model: "m" }],
        generate: (req) =>
          calls++ === 0
            ? Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => void interrupted++)))
            : Effect.sync(() =>
              new LanguageModel.Response({
                text: "fast",
                finishReason: "stop",
                usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
                provider: "test",
                model: req.model ?? "m",
                latencyMillis: 0
              })
            ),
        stream: () => Stream.never
      }
      return { inner, calls: () => calls, interrupted: () => interrupted }
    }
    const decoded = LanguageModel.decodeRequest(request)

    it.live("an attempt over attemptTimeout is interrupted, recorded as a timeout, and retried", () =>
      Effect.gen(function*() {
        const model = hanging()
        const retry = yield* Retry.make({ attemptTimeout: "30 millis", baseDelay: "1 millis", jitter: false })(model.inner)
        const response = yield* Effect.flatMap(decoded, retry.generate)
        expect(response.text).toBe("fast")
        expect(model.calls()).toBe(2)
        expect(model.interrupted()).toBe(1)
        expect(response.attempts.map((a) => a.outcome)).toEqual(["failure", "success"])
        expect(response.attempts[0]!.error).toBe("ProviderUnavailable")
        expect(response.attempts[0]!.message).toContain("No answer within")
      }))

    // The attempt runs in a child fiber started on the caller's stack: one that
    // finishes at once is joined without a timer, one that suspends waits with one.
    // Either way the caller sees what the attempt did to its fiber refs, as after
    // `Effect.timeoutFail` (which joins the winning fiber).
    it.live("an attempt's fiber ref changes reach the caller, whether it answers at once or after a wait", () =>
      Effect.gen(function*() {
        const seen = FiberRef.unsafeMake("unset")
        const model = (delay: number): LanguageModel.Service => ({
          models: [{ provider: "test", model: "m" }],
          generate: (request) =>
            Effect.zipRight(
              Effect.zipRight(delay > 0 ? Effect.sleep(delay) : Effect.void, FiberRef.set(seen, `after ${delay}`)),
              Effect.succeed(
                new LanguageModel.Response({
                  text: "ok",
                  finishReason: "stop",
                  usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
                  provider: "test",
                  model: request.model ?? "m",
                  latencyMillis: 0
                })
              )
            ),
          stream: () => Stream.never
        })
        for (const delay of [0, 5]) {
          const retry = yield* Retry.make({ attemptTimeout: "1 minute" })(model(delay))
          const response = yield* Effect.locally(Effect.flatMap(decoded, retry.generate).pipe(
            Effect.zipLeft(Effect.flatMap(FiberRef.get(seen), (value) => Effect.sync(() => expect(value).toBe(`after ${delay}`))))
          ), seen, "unset")
          expect(response.attempts.map((a) => a.outcome)).toEqual(["success"])
        }
      }))

    // The join is skipped when it would change nothing; these attempts change
    // something through the join without a visible change of value of their own.
    class Marker extends Context.Tag("test/Marker")<Marker, string>() {}
    it.live("the timed attempt joins fiber refs back exactly as Fiber.join does", () =>
      Effect.gen(function*() {
        const summed = () => FiberRef.unsafeMake(1, { join: (parent, child) => parent + child })
        // Each case: [attempt, what the caller reads after it, what the caller sets before].
        const cases: ReadonlyArray<() => readonly [Effect.Effect<void>, Effect.Effect<unknown>, Effect.Effect<void>]> = [
          () => [Effect.void, Effect.void, Effect.void],
          () => {
            const ref = summed() // set to the value it had: its join still runs
            return [FiberRef.set(ref, 1), FiberRef.get(ref), FiberRef.set(ref, 1)]
          },
          () => {
            const ref = summed() // set and set back
            return [Effect.locally(Effect.void, ref, 5), FiberRef.get(ref), FiberRef.set(ref, 1)]
          },
          () => {
            const ref = FiberRef.unsafeMake("initial") // a ref the caller never set
            return [FiberRef.set(ref, "child"), FiberRef.get(ref), Effect.void]
          },
          () => {
            const ref = FiberRef.unsafeMake(10, { fork: (n) => n + 1 }) // the fork changed it
            return [Effect.void, FiberRef.get(ref), FiberRef.set(ref, 10)]
          },
          () => [
            FiberRef.update(FiberRef.currentContext, Context.add(Marker, "child")), // the context it was forked with
            Effect.serviceOption(Marker),
            Effect.void
          ],
          () => [
            Effect.patchRuntimeFlags(RuntimeFlagsPatch.disable(RuntimeFlags.CooperativeYielding)), // its runtime flags
            Effect.getRuntimeFlags,
            Effect.void
          ]
        ]
        for (const make of cases) {
          const run = (timed: boolean) => {
            const [attempt, read, before] = make()
            const joined = timed
              ? Timeout.timeoutFail(attempt, Duration.minutes(1), () => "timeout")
              : Effect.flatMap(Effect.fork(attempt), Fiber.join)
            // In a fiber of its own (awaited, not joined): a case's refs stay out of the next one.
            return Effect.flatten(Effect.flatMap(Effect.fork(Effect.zipRight(before, Effect.zipRight(joined, read))), Fiber.await))
          }
          expect(yield* run(true)).toEqual(yield* run(false))
        }
      }))

    it.live("an attempt that fails at once, under the live clock, is retried and its failure recorded", () =>
      Effect.gen(function*() {
        let calls = 0
        const inner: LanguageModel.Service = {
          models: [{ provider: "test", model: "m" }],
          generate: (request) =>
            Effect.suspend(() =>
              ++calls === 1
                ? Effect.fail(new LlmError.ProviderUnavailable({ kind: "server", message: "503", provider: "test" }))
                : Effect.succeed(
                  new LanguageModel.Response({
                    text: "second",
                    finishReason: "stop",
                    usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
                    provider: "test",
                    model: request.model ?? "m",
                    latencyMillis: 0
                  })
                )
            ),
          stream: () => Stream.never
        }
        const retry = yield* Retry.make({ attemptTimeout: "1 minute", baseDelay: "1 millis", jitter: false })(inner)
        const response = yield* Effect.flatMap(decoded, retry.generate)
        expect(response.text).toBe("second")
        expect(response.attempts.map((a) => `${a.outcome}:${a.error ?? ""}`)).toEqual(["failure:ProviderUnavailable", "success:"])
      }))

    it.live("a failure inside the timeout passes through with its own error", () =>
      Effect.gen(function*() {
        const inner: LanguageModel.Service = {
          models: [{ provider: "test", model: "m" }],
          generate: () => Effect.fail(new LlmError.InvalidRequest({ message: "bad", code: "bad" })),
          stream: () => Stream.never
        }
        const retry = yield* Retry.make({ attemptTimeout: "1 minute" })(inner)
        const error = yield* Effect.flip(Effect.flatMap(decoded, retry.generate))
        expect(error._tag).toBe("InvalidRequest")
      }))

    it.live("interrupting the caller interrupts the attempt in flight", () =>
      Effect.gen(function*() {
        const model = hanging()
        const retry = yield* Retry.make({ attemptTimeout: "1 minute" })(model.inner)
        const fiber = yield* Effect.fork(Effect.flatMap(decoded, retry.generate))
        yield* Effect.sleep("10 millis")
        yield* Fiber.interrupt(fiber)
        expect(model.interrupted()).toBe(1)
      }))

    // Streams with the live clock take the one-worker idle timeout (timeout.ts timeoutPull).
    const finishEvent = new LanguageModel.Finish({
      reason: "stop",
      usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
      provider: "test",
      model: "m"
    })
    const streamingModel = (first: Stream.Stream<LanguageModel.StreamEvent>) => {
      let calls = 0
      let closed = 0
      const inner: LanguageModel.Service = {
        models: [{ provider: "test", model: "m" }],
        generate: () => Effect.die("unused"),
        stream: () =>
          Stream.suspend(() => {
            calls++
            return (calls === 1 ? first : Stream.make(new LanguageModel.TextDelta({ text: "fast" }), finishEvent)).pipe(
              Stream.ensuring(Effect.sync(() => closed++))
            )
          })
      }
      return { inner, calls: () => calls, closed: () => closed }
    }

    it.live("a stream silent past attemptTimeout before its first event is interrupted and retried", () =>
      Effect.gen(function*() {
        const model = streamingModel(Stream.never)
        const retry = yield* Retry.make({ attemptTimeout: "30 millis", baseDelay: "1 millis", jitter: false })(model.inner)
        const events = yield* Effect.flatMap(decoded, (r) => Stream.runCollect(retry.stream(r)))
        const list = [...events]
        expect(list.map((e) => e._tag)).toEqual(["TextDelta", "Finish"])
        expect(model.calls()).toBe(2)
        expect(model.closed()).toBe(2)
        const finish = list[1] as LanguageModel.Finish
        expect(finish.attempts.map((a) => a.outcome)).toEqual(["failure", "success"])
        expect(finish.attempts[0]!.message).toContain("No answer within")
      }))

    it.live("a stream silent past attemptTimeout after its first event fails with the timeout", () =>
      Effect.gen(function*() {
        const model = streamingModel(Stream.concat(Stream.make(new LanguageModel.TextDelta({ text: "a" })), Stream.never))
        const retry = yield* Retry.make({ attemptTimeout: "30 millis", baseDelay: "1 millis" })(model.inner)
        const error = yield* Effect.flip(Effect.flatMap(decoded, (r) => Stream.runDrain(retry.stream(r))))
        expect(error._tag).toBe("ProviderUnavailable")
        expect(error.message).toContain("No answer within")
        expect(model.calls()).toBe(1)
        expect(model.closed()).toBe(1)
      }))

    it.live("slow chunks each within attemptTimeout pass, and interrupting the caller stops the stream", () =>
      Effect.gen(function*() {
        const slow = Stream.make(new LanguageModel.TextDelta({ text: "a" }), new LanguageModel.TextDelta({ text: "b" }), finishEvent)
          .pipe(Stream.tap(() => Effect.sleep("15 millis")))
        const model = streamingModel(slow)
        const retry = yield* Retry.make({ attemptTimeout: "40 millis" })(model.inner)
        const events = yield* Effect.flatMap(decoded, (r) => Stream.runCollect(retry.stream(r)))
        expect(events.length).toBe(3)
        expect(model.calls()).toBe(1)
        const hanging = streamingModel(Stream.never)
        const retry2 = yield* Retry.make({ attemptTimeout: "1 minute" })(hanging.inner)
        const fiber = yield* Effect.fork(Effect.flatMap(decoded, (r) => Stream.runDrain(retry2.stream(r))))
        yield* Effect.sleep("10 millis")
        yield* Fiber.interrupt(fiber)
        expect(hanging.closed()).toBe(1)
      }))
  })
})

describe("Retry: a stream pull abandoned by its caller (live clock)", () => {
  it.live("an interrupted pull ends the stream: no chunk is lost or handed to a later call", () =>
    Effect.gen(function*() {
      let next = 0
      let pulls = 0
      const upstream = Effect.suspend(() => {
        pulls++
        return Effect.map(Effect.sleep(pulls === 1 ? "50 millis" : "1 millis"), () => next++)
      })
      const results = yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* Timeout.timeoutPull(upstream, Duration.seconds(5), () => "timeout" as const)
        const first = yield* Effect.fork(pull)
        yield* Effect.sleep("10 millis")
        yield* Fiber.interrupt(first)
        const later = yield* Effect.exit(pull)
        yield* Effect.sleep("60 millis")
        return { later, pullsAfter: pulls }
      }))
      expect(Exit.isInterrupted(results.later)).toBe(true)
      // the upstream pull in flight was interrupted, and no further pull was started
      expect(results.pullsAfter).toBe(1)
      expect(next).toBe(0)
    }))
})

describe("Retry: a failed stream attempt is released whole", () => {
  // Closing a failed attempt's scope runs its finalizers in order; a caller interrupted
  // while one of them waits (a budget settling against Redis) must not skip the rest
  // (the request's abort among them).
  it.effect("an interrupt during the release of a failed attempt waits for every finalizer", () =>
    Effect.gen(function*() {
      let released = 0
      const settling = yield* Deferred.make<void>()
      const inner: LanguageModel.Service = {
        models: [{ provider: "test", model: "m" }],
        generate: () => Effect.die("unused"),
        stream: () => Stream.die("unused"),
        streamPull: () =>
          Effect.gen(function*() {
            const scope = yield* Effect.scope
            // finalizers run last-added first: the slow one, then this one
            yield* Scope.addFinalizer(scope, Effect.sync(() => void released++))
            yield* Scope.addFinalizer(scope, Effect.zipRight(Deferred.succeed(settling, undefined), Effect.sleep("1 second")))
            return Effect.fail(Option.some<LlmError.LlmError>(unavailable()))
          })
      }
      const retry = yield* Retry.make({ baseDelay: "1 millis", jitter: false })(inner)
      const decoded = yield* LanguageModel.decodeRequest(request)
      const consumer = yield* Effect.fork(Stream.runDrain(retry.stream(decoded)))
      yield* Deferred.await(settling)
      const interrupting = yield* Effect.fork(Fiber.interrupt(consumer))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(interrupting)
      expect(released).toBe(1)
    }))
})
