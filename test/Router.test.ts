import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, Option, Redacted, Stream } from "effect"
import * as Tokens from "../src/cost/Tokens.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Router from "../src/routing/Router.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const KEY = "sk-router-test"

/** Two OpenAI stacks (real SDK) on one simulator: the journal tells which model each call used. */
const withRouter = <A, E>(
  options: Omit<Router.LayerOptions<Record<"cheap" | "strong" | "tools", Layer.Layer<LanguageModel.LanguageModel>>>, "routes">,
  body: (sim: ProviderSimulator.Simulator) => Effect.Effect<A, E, LanguageModel.LanguageModel>
) =>
  Effect.gen(function*() {
    const sim = yield* ProviderSimulator.make({ apiKey: KEY })
    const openai = (model: string) => OpenAi.layer({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model })
    const layer = Router.layer({
      ...options,
      routes: { cheap: openai("gpt-4.1-nano"), strong: openai("gpt-4.1"), tools: openai("gpt-4.1-mini") }
    })
    return yield* Effect.provide(body(sim), layer)
  })

const modelsCalled = (sim: ProviderSimulator.Simulator) =>
  Effect.map(sim.journal, (entries) => entries.filter((e) => e.route === "openai").map((e) => (e.body as { model: string }).model))

const ask = (content: string, extra: Partial<LanguageModel.RequestInput> = {}) =>
  Router.observe(LanguageModel.generate({ messages: [{ role: "user", content }], maxTokens: 50, ...extra }))

describe("Router", () => {
  it.scoped("a metadata tag rule sends task=classify to the cheap model, the rest to the default", () =>
    withRouter({ rules: [{ name: "classify", when: Router.tag("task", "classify"), route: "cheap" }], default: "strong" }, (sim) =>
      Effect.gen(function*() {
        const a = yield* ask("Is this spam?", { metadata: { tags: { task: "classify" } } })
        const b = yield* ask("Write a poem", { metadata: { tags: { task: "write" } } })
        const c = yield* ask("No tags at all")
        expect(a.value.model).toBe("gpt-4.1-nano")
        expect(a.value.route).toBe("cheap")
        expect(b.value.route).toBe("strong")
        expect(a.decisions).toEqual([{ route: "cheap", rule: "classify", inputTokens: undefined }])
        expect(b.value.model).toBe("gpt-4.1")
        expect(b.decisions[0]).toMatchObject({ route: "strong", rule: "default" })
        expect(c.decisions[0]!.route).toBe("strong")
        expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-nano", "gpt-4.1", "gpt-4.1"])
      })))

  it.scoped("an input-token rule routes short prompts cheap and long ones strong, by Tokens.estimate", () =>
    withRouter({
      rules: [{ name: "short", when: Router.inputTokens({ atMost: 100 }), route: "cheap" }],
      default: "strong",
      tokenModel: "gpt-4.1"
    }, (sim) =>
      Effect.gen(function*() {
        const shortText = "Summarise: the cat sat on the mat."
        const longText = "word ".repeat(400)
        const short = yield* ask(shortText)
        const long = yield* ask(longText)
        const expected = yield* Tokens.estimate(
          yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: shortText }], maxTokens: 50 }),
          "gpt-4.1"
        )
        expect(short.decisions[0]).toEqual({ route: "cheap", rule: "short", inputTokens: expected.inputTokens })
        expect(long.decisions[0]!.route).toBe("strong")
        expect(long.decisions[0]!.inputTokens).toBeGreaterThan(400)
        expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-nano", "gpt-4.1"])
      })))

  it.scoped("tools and a JSON-schema response format each pick their route; first match wins", () =>
    withRouter({
      rules: [
        { when: Router.hasTools(), route: "tools" },
        { when: Router.hasResponseSchema(), route: "cheap" },
        { when: Router.tag("task"), route: "cheap" }
      ],
      default: "strong"
    }, (sim) =>
      Effect.gen(function*() {
        const tool = { name: "lookup", parameters: { type: "object", properties: {} } }
        const schema = { type: "jsonSchema" as const, name: "out", schema: { type: "object", properties: {} } }
        const withTools = yield* ask("use a tool", { tools: [tool], metadata: { tags: { task: "x" } } })
        const withSchema = yield* ask("give json", { responseFormat: schema })
        const both = yield* ask("both", { tools: [tool], responseFormat: schema })
        const jsonOnly = yield* ask("plain json", { responseFormat: { type: "json" } })
        expect(withTools.decisions[0]).toMatchObject({ route: "tools", rule: "has tools" })
        expect(withSchema.decisions[0]).toMatchObject({ route: "cheap", rule: "has a response schema" })
        expect(both.decisions[0]!.route).toBe("tools")
        expect(jsonOnly.decisions[0]!.route).toBe("strong")
        expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1"])
      })))

  it.scoped("a user predicate, combined with all/any, routes by anything on the request", () =>
    withRouter({
      rules: [{
        name: "free-tier short",
        when: Router.all(
          Router.when("free tenant", (r) => r.metadata?.tenant?.startsWith("free-") === true),
          Router.any(Router.inputTokens({ atMost: 50 }), Router.tag("priority", "low"))
        ),
        route: "cheap"
      }],
      default: "strong"
    }, (sim) =>
      Effect.gen(function*() {
        const free = yield* ask("hi", { metadata: { tenant: "free-42" } })
        const paid = yield* ask("hi", { metadata: { tenant: "acme" } })
        const freeLong = yield* ask("word ".repeat(200), { metadata: { tenant: "free-1", tags: { priority: "low" } } })
        expect(free.decisions[0]!.route).toBe("cheap")
        expect(paid.decisions[0]!.route).toBe("strong")
        expect(freeLong.decisions[0]!.route).toBe("cheap")
        expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-nano", "gpt-4.1", "gpt-4.1-nano"])
        expect(Router.describe(Router.any(Router.inputTokens({ atMost: 50 }), Router.tag("priority", "low"))))
          .toBe("(inputTokens <= 50) or (tag priority=low)")
      })))

  it.scoped("streams are routed too, and the decision is observed", () =>
    withRouter({ rules: [{ when: Router.tag("task", "classify"), route: "cheap" }], default: "strong" }, (sim) =>
      Effect.gen(function*() {
        const { decisions, value } = yield* Router.observe(
          LanguageModel.collect(LanguageModel.stream({
            messages: [{ role: "user", content: "spam?" }],
            maxTokens: 20,
            metadata: { tags: { task: "classify" } }
          }))
        )
        expect(value.model).toBe("gpt-4.1-nano")
        expect(value.route).toBe("cheap")
        expect(decisions.map((d) => d.route)).toEqual(["cheap"])
        expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-nano"])
        // handed down as a pull: the route rides on the Finish of the chunk that carries it
        const lm = yield* LanguageModel.LanguageModel
        expect(lm.streamPull).toBeDefined()
        const request = yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "long essay" }], maxTokens: 20 })
        const events = yield* Effect.scoped(Effect.flatMap(LanguageModel.pullOf(lm, request), LanguageModel.collectPull))
        expect(events.route).toBe("strong")
        expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-nano", "gpt-4.1"])
      })))

  it.scoped("withModel routes pick a model on one shared provider stack", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const layer = Router.layer({
        routes: { cheap: Router.withModel("gpt-4.1-nano"), strong: Router.withModel("gpt-4.1") },
        rules: [{ when: Router.tag("task", "classify"), route: "cheap" }],
        default: "strong"
      }).pipe(Layer.provide(OpenAi.layer({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4o" })))
      const lm = yield* Effect.provide(LanguageModel.LanguageModel, layer)
      expect(lm.models.map((m) => m.model)).toEqual(["gpt-4.1-nano", "gpt-4.1"])
      yield* Effect.provide(
        Effect.all([
          ask("a", { metadata: { tags: { task: "classify" } } }),
          ask("b"),
          ask("c", { model: "gpt-4o-mini", metadata: { tags: { task: "classify" } } })
        ]),
        layer
      )
      expect(yield* modelsCalled(sim)).toEqual(["gpt-4.1-nano", "gpt-4.1", "gpt-4o-mini"])
    }))

  it.effect("a rule naming a route that does not exist is a defect at construction", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Router.make({ routes: { a: { models: [], generate: () => Effect.die("x"), stream: () => Stream.die("x") } }, rules: [{ when: Router.hasTools(), route: "b" as "a" }], default: "a" })
      )
      expect(exit._tag).toBe("Failure")
    }))
})

describe("Router logs (found in review)", () => {
  /** A route whose call logs one line, in generate and in stream. */
  const logging = (model: string): Layer.Layer<LanguageModel.LanguageModel> => {
    const response = () =>
      new LanguageModel.Response({
        text: "hi",
        toolCalls: [],
        finishReason: "stop",
        usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
        provider: "x",
        model,
        latencyMillis: 0
      })
    return Layer.succeed(LanguageModel.LanguageModel, {
      models: [{ provider: "x", model }],
      generate: () => Effect.as(Effect.log("inner"), response()),
      stream: () => Stream.concat(Stream.execute(Effect.log("opened")), Stream.fromIterable(LanguageModel.toEvents(response())))
    })
  }

  it.effect("the log context gets `route` for a streamed call as for generate", () =>
    Effect.gen(function*() {
      const seen: Array<unknown> = []
      const logger = Logger.make(({ annotations }) => void seen.push(HashMap.get(annotations, "route").pipe(Option.getOrUndefined)))
      const layer = Router.layer({ routes: { small: logging("s"), large: logging("l") }, rules: [], default: "large" })
      const req: LanguageModel.RequestInput = { messages: [{ role: "user", content: "x" }] }
      yield* Effect.gen(function*() {
        yield* LanguageModel.generate(req)
        yield* Stream.runDrain(LanguageModel.stream(req))
      }).pipe(Effect.provide(Layer.merge(layer, Logger.replace(Logger.defaultLogger, logger))))
      expect(seen).toEqual(["large", "large"])
    }))
})
