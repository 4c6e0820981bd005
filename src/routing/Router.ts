/**
 * Picks the model stack for each request from rules on the request: a metadata
 * tag (`task: "classify"`), the estimated input tokens (see `Tokens`), the
 * presence of tools or of a JSON-schema response format, or any predicate. The
 * first rule that matches wins; a request no rule matches goes to the default
 * route. "Use cheaper models for simple tasks", as a Layer.
 *
 * ```ts
 * Router.layer({
 *   routes: { cheap: CheapStack, strong: StrongStack },
 *   rules: [
 *     { name: "classification", when: Router.tag("task", "classify"), route: "cheap" },
 *     { name: "short", when: Router.inputTokens({ atMost: 500 }), route: "cheap" }
 *   ],
 *   default: "strong"
 * })
 * ```
 *
 * Each route is a whole `LanguageModel` stack (its own provider, retry, budget...),
 * or {@link withModel}, which only names the model the surrounding stack should
 * use.
 *
 * Where the decision is recorded: the router
 * - sets `Response.route` (and `Finish.route` on streams),
 * - annotates the current span (`effect_llm.route`, `effect_llm.route.rule`) and
 *   the log context (`route`) of the call,
 * - reports every decision to the collector installed by {@link observe}, which
 *   returns them beside the program's value. Decisions travel with the fiber, so
 *   they survive middleware that rebuilds the response (Budget, Telemetry) and
 *   forks (hedging); a response served by a cache above the router records no
 *   decision, which is the truth: no route was taken.
 * The `provider`/`model` on the `Response` and in `attempts` say what served.
 *
 * @since 0.1.0
 */
import { Chunk, Context, Effect, FiberRef, Layer, Option } from "effect"
import * as Tokens from "../cost/Tokens.js"
import * as LanguageModel from "../LanguageModel.js"

// -----------------------------------------------------------------------------
// Conditions
// -----------------------------------------------------------------------------

/**
 * What a rule tests on a request. Build them with {@link tag},
 * {@link inputTokens}, {@link hasTools}, {@link hasResponseSchema},
 * {@link when}, {@link all} and {@link any}.
 *
 * @since 0.1.0
 * @category models
 */
export type Condition =
  | { readonly _tag: "Tag"; readonly key: string; readonly values: ReadonlyArray<string> | undefined }
  | { readonly _tag: "InputTokens"; readonly atMost: number | undefined; readonly above: number | undefined }
  | { readonly _tag: "HasTools"; readonly present: boolean }
  | { readonly _tag: "HasResponseSchema"; readonly present: boolean }
  | { readonly _tag: "Predicate"; readonly label: string; readonly test: (request: LanguageModel.Request) => boolean }
  | { readonly _tag: "All"; readonly conditions: ReadonlyArray<Condition> }
  | { readonly _tag: "Any"; readonly conditions: ReadonlyArray<Condition> }

/**
 * The request's metadata tag `key` is set (to one of `values`, when given).
 *
 * @since 0.1.0
 * @category conditions
 */
export const tag = (key: string, ...values: ReadonlyArray<string>): Condition => ({
  _tag: "Tag",
  key,
  values: values.length === 0 ? undefined : values
})

/**
 * The estimated input tokens (see `Tokens.estimate`) are at most `atMost` and/or
 * above `above`.
 *
 * @since 0.1.0
 * @category conditions
 */
export const inputTokens = (bounds: { readonly atMost?: number; readonly above?: number }): Condition => ({
  _tag: "InputTokens",
  atMost: bounds.atMost,
  above: bounds.above
})

/**
 * The request offers tools (or, with `false`, offers none).
 *
 * @since 0.1.0
 * @category conditions
 */
export const hasTools = (present = true): Condition => ({ _tag: "HasTools", present })

/**
 * The request asks for a JSON-schema response format (or, with `false`, does not).
 *
 * @since 0.1.0
 * @category conditions
 */
export const hasResponseSchema = (present = true): Condition => ({ _tag: "HasResponseSchema", present })

/**
 * Any test of the request; `label` names it in decisions and spans.
 *
 * @since 0.1.0
 * @category conditions
 */
export const when = (label: string, test: (request: LanguageModel.Request) => boolean): Condition => ({
  _tag: "Predicate",
  label,
  test
})

/**
 * Every condition holds.
 *
 * @since 0.1.0
 * @category conditions
 */
export const all = (...conditions: ReadonlyArray<Condition>): Condition => ({ _tag: "All", conditions })

/**
 * At least one condition holds.
 *
 * @since 0.1.0
 * @category conditions
 */
export const any = (...conditions: ReadonlyArray<Condition>): Condition => ({ _tag: "Any", conditions })

/**
 * A readable form of a condition, e.g. `tag task=classify`, `inputTokens <= 500`.
 *
 * @since 0.1.0
 * @category utils
 */
export const describe = (condition: Condition): string => {
  switch (condition._tag) {
    case "Tag":
      return condition.values === undefined ? `tag ${condition.key}` : `tag ${condition.key}=${condition.values.join("|")}`
    case "InputTokens":
      return [
        condition.above === undefined ? undefined : `inputTokens > ${condition.above}`,
        condition.atMost === undefined ? undefined : `inputTokens <= ${condition.atMost}`
      ].filter((s) => s !== undefined).join(" and ") || "inputTokens (any)"
    case "HasTools":
      return condition.present ? "has tools" : "has no tools"
    case "HasResponseSchema":
      return condition.present ? "has a response schema" : "has no response schema"
    case "Predicate":
      return condition.label
    case "All":
      return condition.conditions.map(describe).map((s) => `(${s})`).join(" and ")
    case "Any":
      return condition.conditions.map(describe).map((s) => `(${s})`).join(" or ")
  }
}

// -----------------------------------------------------------------------------
// Rules and decisions
// -----------------------------------------------------------------------------

/**
 * A rule: when `when` holds, the request goes to `route`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rule<Name extends string = string> {
  /** Names the rule in decisions (default: the condition's description). */
  readonly name?: string | undefined
  readonly when: Condition
  readonly route: Name
}

/**
 * Where a request went and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface Decision {
  readonly route: string
  /** The rule that matched, or `default`. */
  readonly rule: string
  /** The estimated input tokens, when a rule needed them. */
  readonly inputTokens: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<Name extends string = string> {
  readonly rules: ReadonlyArray<Rule<Name>>
  /** The route of requests no rule matches. */
  readonly default: Name
  /**
   * The model whose tokenizer estimates input tokens when the request names none
   * (default: none, i.e. the approximation `Tokens.estimate` uses for unknown
   * models, which errs high).
   */
  readonly tokenModel?: string | undefined
  /** Token estimate options (approximation factor for non-OpenAI models). */
  readonly tokens?: Tokens.EstimateOptions | undefined
}

/**
 * The options of {@link make}: the routes as built services.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceOptions<Name extends string = string> extends Options<Name> {
  readonly routes: Readonly<Record<Name, LanguageModel.Service>>
}

/**
 * The options of {@link layer}: the routes as `LanguageModel` layers.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions<
  Routes extends Readonly<Record<string, Layer.Layer<LanguageModel.LanguageModel, unknown, unknown>>>
> extends Options<Extract<keyof Routes, string>> {
  readonly routes: Routes
}

type Collector = (decision: Decision) => void

const collector = FiberRef.unsafeMake<Option.Option<Collector>>(Option.none())

/**
 * Runs `effect` and returns, beside its value, every routing decision made for
 * it, in order (none when a cache above the router answered).
 *
 * @since 0.1.0
 * @category observing
 */
export const observe = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<{ readonly value: A; readonly decisions: ReadonlyArray<Decision> }, E, R> =>
  Effect.suspend(() => {
    const decisions: Array<Decision> = []
    return Effect.locally(effect, collector, Option.some((d: Decision) => void decisions.push(d))).pipe(
      Effect.map((value) => ({ value, decisions }))
    )
  })

/**
 * The route a request takes, without calling it.
 *
 * @since 0.1.0
 * @category routing
 */
export const decide = <Name extends string>(
  options: Options<Name>,
  request: LanguageModel.Request
): Effect.Effect<Decision> =>
  Effect.gen(function*() {
    let tokens: number | undefined
    const tokenCount = Effect.gen(function*() {
      if (tokens === undefined) {
        const estimate = yield* Tokens.estimate(request, request.model ?? options.tokenModel, options.tokens)
        tokens = estimate.inputTokens
      }
      return tokens
    })
    const holds = (condition: Condition): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        switch (condition._tag) {
          case "Tag": {
            const value = request.metadata?.tags?.[condition.key]
            return value !== undefined && (condition.values === undefined || condition.values.includes(value))
          }
          case "InputTokens": {
            const n = yield* tokenCount
            return (condition.atMost === undefined || n <= condition.atMost) &&
              (condition.above === undefined || n > condition.above)
          }
          case "HasTools":
            return ((request.tools?.length ?? 0) > 0) === condition.present
          case "HasResponseSchema":
            return (request.responseFormat?.type === "jsonSchema") === condition.present
          case "Predicate":
            return condition.test(request)
          case "All":
            for (const c of condition.conditions) if (!(yield* holds(c))) return false
            return true
          case "Any":
            for (const c of condition.conditions) if (yield* holds(c)) return true
            return false
        }
      })
    for (const rule of options.rules) {
      if (yield* holds(rule.when)) {
        return { route: rule.route, rule: rule.name ?? describe(rule.when), inputTokens: tokens }
      }
    }
    return { route: options.default, rule: "default", inputTokens: tokens }
  })

const record = (decision: Decision) =>
  Effect.flatMap(FiberRef.get(collector), (sink) =>
    Effect.zipRight(
      Effect.sync(() => Option.map(sink, (push) => push(decision))),
      Effect.annotateCurrentSpan({ "effect_llm.route": decision.route, "effect_llm.route.rule": decision.rule })
    ))

/**
 * Builds a router over built services. Dies when `default` or a rule names a
 * route that does not exist (a programming error, caught at construction).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Name extends string>(options: ServiceOptions<Name>): Effect.Effect<LanguageModel.Service> =>
  Effect.gen(function*() {
    const routes = options.routes as Readonly<Record<string, LanguageModel.Service>>
    const names = [options.default, ...options.rules.map((rule) => rule.route)]
    const unknown = names.filter((name) => routes[name] === undefined)
    if (unknown.length > 0) return yield* Effect.dieMessage(`Router: no route named ${[...new Set(unknown)].join(", ")}`)

    const route = (request: LanguageModel.Request) =>
      Effect.tap(decide(options, request), record)

    const generate = (request: LanguageModel.Request) =>
      Effect.flatMap(route(request), (decision) =>
        routes[decision.route]!.generate(request).pipe(
          Effect.map((response) => new LanguageModel.Response({ ...response, route: decision.route })),
          Effect.annotateLogs("route", decision.route)
        ))

    // A pull, as the layers around it hand down (no Stream stage of the router's own).
    // The log context gets `route` for the opening and for every pull, as for `generate`.
    const streamPull = (request: LanguageModel.Request) =>
      Effect.flatMap(route(request), (decision) =>
        Effect.map(
          Effect.annotateLogs(LanguageModel.pullOf(routes[decision.route]!, request), "route", decision.route),
          (pull): LanguageModel.StreamPull =>
            Effect.annotateLogs(
              Effect.map(pull, (chunk) =>
                Chunk.some(chunk, (event) => event._tag === "Finish")
                  ? Chunk.map(chunk, (event) => (event._tag === "Finish" ? new LanguageModel.Finish({ ...event, route: decision.route }) : event))
                  : chunk),
              "route",
              decision.route
            )
        ))

    const seen = new Set<string>()
    const models = Object.values(routes).flatMap((service) => service.models).filter((ref) => {
      const key = `${ref.provider}/${ref.model}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    return { models, generate, stream: (request) => LanguageModel.fromPull(streamPull(request)), streamPull }
  })

/**
 * The error of building the route layers of {@link layer}.
 *
 * @since 0.1.0
 * @category type-level
 */
export type RoutesError<Routes> = {
  [K in keyof Routes]: Routes[K] extends Layer.Layer<LanguageModel.LanguageModel, infer E, infer _R> ? E : never
}[keyof Routes]

/**
 * What building the route layers of {@link layer} requires.
 *
 * @since 0.1.0
 * @category type-level
 */
export type RoutesContext<Routes> = {
  [K in keyof Routes]: Routes[K] extends Layer.Layer<LanguageModel.LanguageModel, infer _E, infer R> ? R : never
}[keyof Routes]

/**
 * The router as a Layer: builds every route's layer (in the layer's scope) and
 * provides a `LanguageModel` that sends each request to the route its rules pick.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <
  const Routes extends Readonly<Record<string, Layer.Layer<LanguageModel.LanguageModel, unknown, unknown>>>
>(
  options: LayerOptions<Routes>
): Layer.Layer<LanguageModel.LanguageModel, RoutesError<Routes>, RoutesContext<Routes>> =>
  Layer.scoped(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const services: Record<string, LanguageModel.Service> = {}
      for (const [name, routeLayer] of Object.entries(options.routes)) {
        const context = yield* Layer.build(routeLayer)
        services[name] = Context.get(context, LanguageModel.LanguageModel)
      }
      return yield* make({ ...options, routes: services } as ServiceOptions<string>)
    })
  ) as Layer.Layer<LanguageModel.LanguageModel, RoutesError<Routes>, RoutesContext<Routes>>

/**
 * A route that only picks the model: requests that name no model are sent to
 * the surrounding `LanguageModel` with `model` set (a request that names its own
 * model keeps it). Its `models` report `model` under the inner stack's provider.
 *
 * @since 0.1.0
 * @category routes
 */
export const withModel = (model: string): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(LanguageModel.LanguageModel, (inner): LanguageModel.Service => {
      const set = (request: LanguageModel.Request) =>
        request.model !== undefined ? request : new LanguageModel.Request({ ...request, model })
      return {
        models: [{ provider: inner.models[0]?.provider ?? "unknown", model }],
        generate: (request) => inner.generate(set(request)),
        stream: (request) => inner.stream(set(request)),
        streamPull: (request) => LanguageModel.pullOf(inner, set(request))
      }
    })
  )
