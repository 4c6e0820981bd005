/**
 * The gateway's configuration file: the stack (see `Stack`) plus where to listen
 * and which API keys map to which tenants. Keys are read from environment
 * variables named in the file, never written in it.
 *
 * ```yaml
 * gateway:
 *   port: 8787
 *   keys:
 *     - { tenant: acme, keyEnv: GATEWAY_KEY_ACME }
 * stack:
 *   providers:
 *     main: { type: openai, model: gpt-4.1-mini }
 * ```
 *
 * @since 0.1.0
 */
import { Config, ConfigError, Effect, Schema } from "effect"
import * as YAML from "yaml"
import * as Fs from "node:fs"
import * as Stack from "../Stack.js"
import * as Gateway from "./Gateway.js"

/**
 * @since 0.1.0
 * @category config
 */
export const GatewayConfig = Schema.Struct({
  gateway: Schema.Struct({
    port: Schema.optional(Schema.Int.pipe(Schema.between(0, 65535))),
    host: Schema.optional(Schema.NonEmptyString),
    maxBodyBytes: Schema.optional(Schema.Int.pipe(Schema.positive())),
    keys: Schema.NonEmptyArray(Schema.Struct({ tenant: Schema.NonEmptyString, keyEnv: Schema.NonEmptyString }))
  }),
  stack: Schema.Unknown
})

/**
 * A validated gateway configuration, its stack validated too.
 *
 * @since 0.1.0
 * @category config
 */
export interface GatewayConfig {
  readonly gateway: typeof GatewayConfig.Type["gateway"]
  readonly stack: Stack.StackConfig
}

/**
 * Validates a gateway configuration; errors name their path (`gateway.port`, and
 * `stack.` before the stack's own paths). One
 * `keyEnv` for several tenants is refused (`gateway.keys`): a key identifies one
 * tenant.
 *
 * @since 0.1.0
 * @category config
 */
export const decode = (input: unknown): Effect.Effect<GatewayConfig, Stack.StackConfigError> =>
  Effect.gen(function*() {
    const outer = yield* Schema.decodeUnknown(GatewayConfig, { errors: "all", onExcessProperty: "error" })(input).pipe(
      Effect.mapError(Stack.configErrorFromParseError)
    )
    const shared = sharedKeyEnvs(outer.gateway.keys)
    if (shared !== undefined) return yield* Effect.fail(new Stack.StackConfigError({ path: "gateway.keys", message: shared }))
    const stack = yield* Stack.decodeConfig(outer.stack).pipe(
      Effect.mapError((e) =>
        new Stack.StackConfigError({ path: `stack.${e.path}`, message: e.message.split("; ").map((m) => `stack.${m}`).join("; ") })
      )
    )
    return { gateway: outer.gateway, stack }
  })

/** Why the keys cannot each identify one tenant (an environment variable named for several tenants), if they cannot. */
const sharedKeyEnvs = (keys: ReadonlyArray<{ readonly tenant: string; readonly keyEnv: string }>): string | undefined => {
  const tenants = new Map<string, Set<string>>()
  for (const k of keys) tenants.set(k.keyEnv, (tenants.get(k.keyEnv) ?? new Set()).add(k.tenant))
  const shared = [...tenants].filter(([, t]) => t.size > 1)
  return shared.length === 0
    ? undefined
    : shared.map(([env, t]) => `${env} is the key of several tenants (${[...t].join(" and ")}): each key must identify one tenant`).join("; ")
}

/**
 * Reads a JSON or YAML file and validates it.
 *
 * @since 0.1.0
 * @category config
 */
export const load = (path: string): Effect.Effect<GatewayConfig, Stack.StackConfigError> =>
  Effect.try({
    try: () => {
      const text = Fs.readFileSync(path, "utf8")
      return /\.ya?ml$/i.test(path) ? YAML.parse(text) as unknown : JSON.parse(text) as unknown
    },
    catch: (e) => new Stack.StackConfigError({ path: "(file)", message: `Cannot read ${path}: ${e instanceof Error ? e.message : String(e)}` })
  }).pipe(Effect.flatMap(decode))

/**
 * The gateway API keys, read from the environment variables the file names and
 * trimmed. A variable that is not set fails with a `StackConfigError` at
 * `gateway.keys[i].keyEnv`; two tenants whose variables hold the same key, or an
 * empty key, at `gateway.keys` naming the tenants (see `Gateway.validateKeys`).
 *
 * @since 0.1.0
 * @category config
 */
export const keys = (
  config: GatewayConfig
): Effect.Effect<ReadonlyArray<Gateway.ApiKey>, Stack.StackConfigError> =>
  Effect.forEach(config.gateway.keys, (k, i) =>
    Config.redacted(k.keyEnv).pipe(
      Effect.map((key) => ({ key, tenant: k.tenant })),
      Effect.mapError((error) => {
        const path = `gateway.keys[${i}].keyEnv`
        return new Stack.StackConfigError({
          path,
          message: ConfigError.isMissingDataOnly(error)
            ? `${path}: the environment variable ${k.keyEnv} is not set (it holds tenant ${k.tenant}'s gateway key)`
            : `${path}: cannot read the environment variable ${k.keyEnv}: ${error.toString()}`
        })
      })
    )).pipe(
    Effect.flatMap((read) =>
      Effect.mapError(Gateway.validateKeys(read), (e) => new Stack.StackConfigError({ path: "gateway.keys", message: e.message }))
    )
  )
