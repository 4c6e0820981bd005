/**
 * Test tools: a scripted `LanguageModel` and a loopback provider simulator.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ScriptedModel from "./ScriptedModel.js"

/** @since 0.1.0 */
export * as ProviderSimulator from "./ProviderSimulator.js"

/** @since 0.1.0 */
export * as BatchSimulator from "./BatchSimulator.js"
