/**
 * Guard benchmark: detection rate, false-positive rate and scan latency of the
 * InjectionScanner (rules plus the built-in linear model) on a labelled JSONL
 * file (one object a line with `text` and `label`: "injection" | "benign"; an
 * optional `category`).
 *
 *   npm run bench:guard -- [--data FILE] [--out FILE] [--threshold N] [--no-cv] [--misses] [--no-write]
 *
 * Default data: ../shared/data/injection/dev.jsonl. Writes docs/benchmarks/guard.json
 * unless --no-write. Figures reported:
 *
 * - all / without `bipia_text:task_irrelevant:*` (plain requests that are
 *   injections only inside third-party content), with the SHIPPED model. The
 *   shipped model was trained on the file's permitted rows, so these are
 *   in-sample: not an estimate of generalisation.
 * - cross-validated: 5 folds by line index % 5; every item is scored by a model
 *   retrained (test/bench/train-guard.ts, same settings and threshold as the
 *   shipped one) without its fold. Fold 4 is the hold-out fifth: rule development
 *   never looked at it either (the rules were hand-tuned on folds 0-3, which
 *   flatters the cross-validated figure of those folds).
 * - never trained on: items excluded from training for licence or consent
 *   (Tensor Trust, self-instruct user_oriented), scored by the shipped model.
 * - rules alone, for comparison.
 *
 * `detectionRate` / `falsePositiveRate` in the JSON are the hold-out figures
 * (`estimate: "holdout"`): model and rules both unseen there. Latency is per scan
 * on 1 KB inputs built from the file's own texts (each repeated to 1024
 * characters).
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { cpus, loadavg } from "node:os"
import * as InjectionScanner from "../../src/guard/InjectionScanner.js"
import type { Item, Rates } from "./train-guard.js"
import { crossValidate, defaultHyper, excludedBecause, flaggedAt, isTaskIrrelevant, loadBackground, loadItems, rates } from "./train-guard.js"

const args = process.argv.slice(2)
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const flag = (name: string): boolean => args.includes(name)

const dataPath = resolve(arg("--data") ?? "../shared/data/injection/dev.jsonl")
const outPath = resolve(arg("--out") ?? "docs/benchmarks/guard.json")
const threshold = Number(arg("--threshold") ?? InjectionScanner.defaultThreshold)

const items = loadItems(dataPath)
const scanner = InjectionScanner.compile({ threshold })
const rulesOnly = InjectionScanner.compile({ threshold, model: false })

const results = items.map((item) => ({ item, result: scanner.scan(item.text), rules: rulesOnly.scan(item.text) }))
const rate = (subset: ReadonlyArray<(typeof results)[number]>, by: "result" | "rules" = "result"): Rates =>
  rates(subset.map((r) => ({ item: r.item, flagged: r[by].flagged })))

const all = rate(results)
const withoutTaskIrrelevant = rate(results.filter((r) => !isTaskIrrelevant(r.item)))
const rulesAll = rate(results, "rules")
const rulesHoldout = rate(results.filter((r) => r.item.index % 5 === 4), "rules")
const neverTrained = rate(results.filter((r) => excludedBecause(r.item) !== undefined && !isTaskIrrelevant(r.item)))

// --- cross-validation ---------------------------------------------------------------
const modelThreshold = InjectionScanner.builtInWeights.threshold
let cross: { all: Rates; withoutTaskIrrelevant: Rates; holdout: Rates; holdoutWithoutTaskIrrelevant: Rates } | undefined
let cvMisses: Array<{ item: Item; score: number }> = []
if (!flag("--no-cv")) {
  const background = loadBackground(resolve("../shared/data/paraphrase/dev.jsonl"))
  const cv = crossValidate(items, defaultHyper, background)
  const decided = cv.map((s) => ({ item: s.item, flagged: flaggedAt(s.ruleScore, s.p, modelThreshold, threshold), score: Math.max(s.ruleScore, s.p / modelThreshold) }))
  const hold = decided.filter((d) => d.item.index % 5 === 4)
  cross = {
    all: rates(decided),
    withoutTaskIrrelevant: rates(decided.filter((d) => !isTaskIrrelevant(d.item))),
    holdout: rates(hold),
    holdoutWithoutTaskIrrelevant: rates(hold.filter((d) => !isTaskIrrelevant(d.item)))
  }
  cvMisses = decided.filter((d) => (d.item.label === "injection") !== d.flagged)
}

// --- latency on 1 KB inputs ---------------------------------------------------------
// 400 texts spread evenly over the file (both labels), each repeated to 1 KB
const stride = Math.max(1, Math.floor(items.length / 400))
const inputs = items.filter((_, i) => i % stride === 0).slice(0, 400).map((c) => {
  let text = c.text
  while (text.length < 1024) text += `\n${c.text}`
  return text.slice(0, 1024)
})
const measure = (scan: (text: string) => unknown) => {
  for (let i = 0; i < 3; i++) for (const input of inputs) scan(input)
  const samples: Array<number> = []
  // Each input's fastest of the ten rounds: on a shared machine (load from other
  // processes, GC pauses) the per-scan samples measure the machine as much as the
  // scanner; the per-input best is the steadier figure. Both are reported.
  const best = inputs.map(() => Number.POSITIVE_INFINITY)
  for (let round = 0; round < 10; round++) {
    inputs.forEach((input, i) => {
      const start = process.hrtime.bigint()
      scan(input)
      const micros = Number(process.hrtime.bigint() - start) / 1000
      samples.push(micros)
      if (micros < best[i]!) best[i] = micros
    })
  }
  samples.sort((a, b) => a - b)
  best.sort((a, b) => a - b)
  const r1 = (n: number) => Math.round(n * 10) / 10
  const pct = (p: number) => r1(samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!)
  return { p50: pct(0.5), p99: pct(0.99), bestP50: r1(best[Math.floor(best.length / 2)]!), n: samples.length }
}
const load = loadavg()[0]!
const latencyRules = measure((t) => rulesOnly.scan(t))
const latency = measure((t) => scanner.scan(t))

// --- report -------------------------------------------------------------------------
const pc = (n: number) => `${(n * 100).toFixed(1)}%`
const line = (name: string, r: Rates) =>
  console.log(
    `${name.padEnd(48)} cases ${String(r.cases).padStart(5)}  detection ${pc(r.detectionRate).padStart(6)} (${r.injections})  false positives ${pc(r.falsePositiveRate).padStart(5)} (${r.benign})`
  )
console.log(`InjectionScanner on ${dataPath} (threshold ${threshold}, ${scanner.rules.length} rules + linear model, model threshold ${modelThreshold})`)
if (cross !== undefined) {
  line("hold-out fold 4 (estimate; model and rules unseen)", cross.holdout)
  line("  hold-out without task-irrelevant", cross.holdoutWithoutTaskIrrelevant)
  line("cross-validated, 5 folds", cross.all)
  line("  cross-validated without task-irrelevant", cross.withoutTaskIrrelevant)
}
line("never trained on (Tensor Trust, user_oriented)", neverTrained)
line("all, shipped model (in-sample)", all)
line("  without task-irrelevant (in-sample)", withoutTaskIrrelevant)
line("rules alone, all", rulesAll)
line("rules alone, hold-out fold 4", rulesHoldout)
console.log(`scan latency, 1 KB input, rules + model: p50 ${latency.p50} µs  p99 ${latency.p99} µs  best-of-10 per input p50 ${latency.bestP50} µs  (${latency.n} scans)`)
console.log(`                         rules alone:  p50 ${latencyRules.p50} µs  p99 ${latencyRules.p99} µs  best-of-10 per input p50 ${latencyRules.bestP50} µs`)
console.log(`load average ${load.toFixed(2)} on ${cpus().length} CPUs`)

// Which sources the remaining cross-validated errors come from (without the
// context-only items), for the rule-development folds and the hold-out apart.
if (cross !== undefined) {
  for (const [name, inFold] of [["folds 0-3", (i: number) => i % 5 !== 4], ["hold-out fold 4", (i: number) => i % 5 === 4]] as const) {
    const groups = new Map<string, { errors: number; items: number }>()
    for (const r of results) {
      const item = r.item
      if (!inFold(item.index) || isTaskIrrelevant(item)) continue
      const key = `${item.label === "injection" ? "missed" : "false positive"} ${item.category.split(":").slice(0, 2).join(":")}`
      const g = groups.get(key) ?? { errors: 0, items: 0 }
      g.items++
      groups.set(key, g)
    }
    for (const { item } of cvMisses) {
      if (!inFold(item.index) || isTaskIrrelevant(item)) continue
      groups.get(`${item.label === "injection" ? "missed" : "false positive"} ${item.category.split(":").slice(0, 2).join(":")}`)!.errors++
    }
    const rows = [...groups].filter(([, g]) => g.errors > 0).sort((a, b) => b[1].errors - a[1].errors)
    console.log(`cross-validated errors by source, ${name} (without task-irrelevant): ${rows.map(([k, g]) => `${k} ${g.errors}/${g.items}`).join(", ")}`)
  }
}

if (flag("--misses")) {
  const show = flag("--holdout") ? (c: Item) => c.index % 5 === 4 : () => true
  for (const { item, score } of cvMisses) {
    if (!show(item) || isTaskIrrelevant(item)) continue
    console.log(`\n[${item.label === "injection" ? "MISS" : "FP"} #${item.index} ${item.category} cross-validated score ${score.toFixed(3)}]`)
    console.log(`  ${item.text.slice(0, 300).replace(/\n/g, " / ")}`)
  }
}

if (!flag("--no-write")) {
  const headline = cross?.holdout ?? all
  const report = {
    cases: all.cases,
    detectionRate: headline.detectionRate,
    falsePositiveRate: headline.falsePositiveRate,
    estimate: cross === undefined ? "in-sample (run without --no-cv for the hold-out estimate)" : "holdout",
    estimateNote: "detectionRate/falsePositiveRate: hold-out fifth (line index % 5 == 4), scored by a model trained without it; rules were never tuned on it",
    p50Micros: latency.p50,
    p99Micros: latency.p99,
    bestOf10P50Micros: latency.bestP50,
    rulesOnlyLatency: { p50Micros: latencyRules.p50, p99Micros: latencyRules.p99, bestOf10P50Micros: latencyRules.bestP50 },
    loadAverage: Math.round(load * 100) / 100,
    data: dataPath.replace(resolve(".."), ".."),
    threshold,
    modelThreshold,
    holdout: cross?.holdout,
    holdoutWithoutTaskIrrelevant: cross?.holdoutWithoutTaskIrrelevant,
    crossValidated: cross?.all,
    crossValidatedWithoutTaskIrrelevant: cross?.withoutTaskIrrelevant,
    neverTrainedOn: neverTrained,
    allInSample: all,
    withoutTaskIrrelevantInSample: withoutTaskIrrelevant,
    rulesAlone: rulesAll,
    rulesAloneHoldout: rulesHoldout
  }
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`wrote ${outPath}`)
}
