#!/usr/bin/env node
/**
 * The `effect-llm` command line: `serve` runs the gateway from a config file,
 * `eval` runs prompt suites (see docs/evaluation.md), `demo` walks through the patterns against the built-in simulator.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { ConfigError, Console, Effect, Layer, Option } from "effect"
import * as Analyze from "../gateway/Analyze.js"
import * as GatewayConfig from "../gateway/Config.js"
import * as Gateway from "../gateway/Gateway.js"
import * as Stack from "../Stack.js"
import * as EvalCli from "../eval/Cli.js"
import * as Demo from "./Demo.js"

const config = Options.file("config").pipe(Options.withAlias("c"), Options.withDescription("Gateway config (JSON or YAML)"))
const port = Options.integer("port").pipe(Options.optional, Options.withDescription("Overrides gateway.port"))

const serve = Command.make("serve", { config, port }, ({ config, port }) =>
  Effect.gen(function*() {
    const file = yield* GatewayConfig.load(config)
    const keys = yield* GatewayConfig.keys(file)
    const server = Gateway.layer({
      keys,
      port: Option.getOrElse(port, () => file.gateway.port ?? 8787),
      host: file.gateway.host,
      maxBodyBytes: file.gateway.maxBodyBytes,
      routes: [Analyze.route()]
    }).pipe(Layer.provideMerge(Stack.fromConfig(file.stack)))
    yield* Layer.launch(Layer.tap(server, (context) =>
      Effect.flatMap(Effect.provide(Gateway.url, context), (url) => Console.log(`effect-llm gateway listening on ${url}`))))
  })
).pipe(Command.withDescription("Run the OpenAI-compatible gateway"))

const demo = Command.make("demo", {}, () => Demo.run).pipe(
  Command.withDescription("Walk through the patterns against the built-in provider simulator")
)

const root = Command.make("effect-llm").pipe(Command.withSubcommands([serve, demo, EvalCli.evalCommand]))

const cli = Command.run(root, { name: "effect-llm", version: "0.1.0" })

cli(process.argv).pipe(
  EvalCli.withExitCode,
  Effect.catchAll((e) =>
    e instanceof Stack.StackConfigError
      ? Effect.zipRight(Console.error(`Config error at ${e.path}: ${e.message}`), Effect.sync(() => process.exit(3)))
      : ConfigError.isConfigError(e)
      // An environment variable the configuration needs that the stack did not name a path for.
      ? Effect.zipRight(Console.error(`Config error: ${e.toString()}`), Effect.sync(() => process.exit(3)))
      : Effect.fail(e)
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain
)
