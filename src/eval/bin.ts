/**
 * Runs the `eval` command standalone, before the main CLI mounts it:
 * `npx tsx --conditions=source src/eval/bin.ts eval SUITE [flags]`.
 *
 * @since 0.1.0
 */
import { Command } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { evalCommand, withExitCode } from "./Cli.js"

const cli = Command.run(Command.make("effect-llm").pipe(Command.withSubcommands([evalCommand])), {
  name: "effect-llm",
  version: "0.1.0"
})

cli(process.argv).pipe(withExitCode, Effect.provide(NodeContext.layer), NodeRuntime.runMain)
