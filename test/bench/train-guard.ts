/**
 * Trains the linear injection model that `InjectionScanner` ships
 * (src/guard/internal/model.ts) and reports its cross-validated figures.
 *
 *   npx tsx --conditions=source test/bench/train-guard.ts [--data FILE] [--no-write] [--fp-budget 0.02]
 *
 * Model: logistic regression over hashed word unigrams/bigrams of the normalized
 * text (src/guard/internal/features.ts); `--groups both|chars` adds or uses the
 * character 3-5-grams instead, `--rule-inputs` the rule scan's score bands and the
 * families that fired. Words only is the default since it came within one text
 * of words + characters on folds 0-3 at a third of the feature walk's cost. Full-batch Adam with L2
 * regularization and balanced class weights, a fixed number of steps from zero
 * weights: no randomness, so the same data gives the same model byte for byte.
 *
 * Training data (licence and consent): only rows of the MIT / Apache-2.0
 * sources of the dev file. Never trained on:
 * - `self_instruct:user_oriented` (its source asks not to train on it),
 * - `tensortrust:*` (the repository has no licence),
 * - `bipia_text:task_irrelevant:*` (ordinary requests that are injections only
 *   inside third-party content: as training data they teach the model that plain
 *   questions are attacks).
 *
 * Honest figures: 5-fold cross-validation with folds = line index % 5 (each
 * item scored by the model whose training set excluded its fold; fold 4 is the
 * hold-out fifth that rule development never looked at), and the threshold chosen
 * on the out-of-fold scores of folds 0-3 only: the most detection at a
 * false-positive rate within `--fp-budget` (default 2%).
 */
import { readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as InjectionScanner from "../../src/guard/InjectionScanner.js"
import { hashFeatures, ruleFeatureNames, ruleFeatures } from "../../src/guard/internal/features.js"
import { normalize } from "../../src/guard/internal/normalize.js"
import { benignGuardInputs, benignTriggerTexts } from "../guard-benign-texts.js"

export interface Item {
  readonly index: number
  readonly text: string
  readonly label: "injection" | "benign"
  readonly category: string
}

/** Why an item is never used for training (undefined: it may be). */
export const excludedBecause = (item: Item): string | undefined =>
  item.category.startsWith("self_instruct:user_oriented")
    ? "self_instruct:user_oriented (source asks not to train on it)"
    : item.category.startsWith("tensortrust:")
    ? "tensortrust (no licence)"
    : item.category.startsWith("bipia_text:task_irrelevant")
    ? "bipia_text:task_irrelevant (benign on its own)"
    : undefined

export const loadItems = (path: string): Array<Item> =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim().length > 0)
    .map((line, index) => {
      const row = JSON.parse(line) as { text?: unknown; label?: unknown; category?: unknown }
      if (typeof row.text !== "string" || (row.label !== "injection" && row.label !== "benign")) {
        throw new Error(`${path}:${index + 1}: expected {"text": string, "label": "injection"|"benign"}`)
      }
      return { index, text: row.text, label: row.label, category: typeof row.category === "string" ? row.category : "" }
    })

/**
 * Benign background texts (training only, never scored): the unique sentences of
 * ../shared/data/paraphrase/dev.jsonl (zilliztech/GPTCache mock_data.json, MIT),
 * statements about software documentation.
 */
export const loadBackground = (path: string): Array<Item> => {
  const seen = new Set<string>()
  for (const line of readFileSync(path, "utf8").split("\n")) {
    if (line.trim().length === 0) continue
    const row = JSON.parse(line) as { a?: unknown; b?: unknown }
    for (const t of [row.a, row.b]) if (typeof t === "string") seen.add(t)
  }
  return [...seen].map((text, k) => ({ index: -1 - k, text, label: "benign" as const, category: "background:gptcache" }))
}

export interface Hyper {
  /** Which feature groups are used: words, chars or both. */
  readonly groups: "both" | "words" | "chars"
  /** Pseudo-count added to the character n-gram count before the 1/sqrt scaling (words get a quarter): short texts are pulled towards the prior. */
  readonly pseudo: number
  /** Whether the rule scan's score bands and families are model inputs. */
  readonly ruleInputs: boolean
  readonly bits: number
  readonly l2: number
  readonly steps: number
  readonly rate: number
}

/** The settings of the shipped model (chosen on folds 0-3, see docs/security.md). */
export const defaultHyper: Hyper = { groups: "words", pseudo: 64, ruleInputs: false, bits: 16, l2: 1e-5, steps: 300, rate: 0.05 }

/** An item turned into model inputs. */
interface Encoded {
  readonly idx: Int32Array
  readonly val: Float32Array
  readonly rules: Float64Array
  readonly ruleScore: number
  readonly y: number
}

const rulesOnly = InjectionScanner.compile({ model: false })

const encode = (item: Item, bits: number, groups: Hyper["groups"] = "both", ruleInputs = true, pseudo = 0): Encoded => {
  const zero = new Int8Array(1 << bits)
  const norm = normalize(item.text).text
  const words: Array<number> = []
  const chars: Array<number> = []
  hashFeatures(norm, zero, bits, words, chars)
  const counts = new Map<number, number>()
  const wn = words.length === 0 || groups === "chars" ? 0 : 1 / Math.sqrt(words.length + pseudo / 4)
  const cn = chars.length === 0 || groups === "words" ? 0 : 1 / Math.sqrt(chars.length + pseudo)
  for (const b of words) counts.set(b, (counts.get(b) ?? 0) + wn)
  for (const b of chars) counts.set(b, (counts.get(b) ?? 0) + cn)
  const idx = Int32Array.from(counts.keys())
  const val = Float32Array.from(counts.values())
  const scan = rulesOnly.scan(item.text)
  const rules = new Float64Array(ruleFeatureNames.length)
  if (ruleInputs) ruleFeatures(scan.score, scan.findings.map((f) => f.family ?? ""), rules)
  return { idx, val, rules, ruleScore: scan.score, y: item.label === "injection" ? 1 : 0 }
}

/** A trained model (float weights). */
export interface Trained {
  readonly bits: number
  readonly bias: number
  readonly weights: Float32Array
  readonly ruleWeights: ReadonlyArray<number>
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z))

const train = (data: ReadonlyArray<Encoded>, hyper: Hyper, log = false): Trained => {
  const D = 1 << hyper.bits
  const R = ruleFeatureNames.length
  const w = new Float32Array(D)
  const r = new Float64Array(R)
  let b = 0
  const mw = new Float32Array(D), vw = new Float32Array(D), gw = new Float32Array(D)
  const mr = new Float64Array(R), vr = new Float64Array(R), gr = new Float64Array(R)
  let mb = 0, vb = 0
  const pos = data.filter((d) => d.y === 1).length
  const neg = data.length - pos
  const cw = [data.length / (2 * Math.max(1, neg)), data.length / (2 * Math.max(1, pos))]
  const b1 = 0.9, b2 = 0.999, eps = 1e-8
  for (let step = 1; step <= hyper.steps; step++) {
    gw.fill(0)
    gr.fill(0)
    let gb = 0
    let loss = 0
    for (const d of data) {
      let z = b
      for (let k = 0; k < d.idx.length; k++) z += w[d.idx[k]!]! * d.val[k]!
      for (let k = 0; k < R; k++) z += r[k]! * d.rules[k]!
      const p = sigmoid(z)
      const c = cw[d.y]!
      if (log) loss -= c * (d.y === 1 ? Math.log(p + 1e-12) : Math.log(1 - p + 1e-12))
      const e = (p - d.y) * c / data.length
      for (let k = 0; k < d.idx.length; k++) gw[d.idx[k]!]! += e * d.val[k]!
      for (let k = 0; k < R; k++) gr[k]! += e * d.rules[k]!
      gb += e
    }
    const a = hyper.rate * Math.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    for (let k = 0; k < D; k++) {
      const g = gw[k]! + hyper.l2 * w[k]!
      if (g === 0 && mw[k] === 0) continue
      mw[k] = b1 * mw[k]! + (1 - b1) * g
      vw[k] = b2 * vw[k]! + (1 - b2) * g * g
      w[k] = w[k]! - a * mw[k]! / (Math.sqrt(vw[k]!) + eps)
    }
    for (let k = 0; k < R; k++) {
      const g = gr[k]! + hyper.l2 * r[k]!
      mr[k] = b1 * mr[k]! + (1 - b1) * g
      vr[k] = b2 * vr[k]! + (1 - b2) * g * g
      r[k] = r[k]! - a * mr[k]! / (Math.sqrt(vr[k]!) + eps)
    }
    mb = b1 * mb + (1 - b1) * gb
    vb = b2 * vb + (1 - b2) * gb * gb
    b -= a * mb / (Math.sqrt(vb) + eps)
    if (log && (step % 50 === 0 || step === 1)) console.error(`  step ${step} loss ${(loss / data.length).toFixed(4)}`)
  }
  return { bits: hyper.bits, bias: b, weights: w, ruleWeights: [...r] }
}

/** The int8 form the package ships: weights = q * scale. */
export const quantize = (model: Trained): { readonly scale: number; readonly q: Int8Array } => {
  let max = 0
  for (const x of model.weights) max = Math.max(max, Math.abs(x))
  const scale = max === 0 ? 1 : max / 127
  const q = new Int8Array(model.weights.length)
  for (let k = 0; k < q.length; k++) q[k] = Math.round(model.weights[k]! / scale)
  return { scale, q }
}

const dequantized = (model: Trained): Trained => {
  const { scale, q } = quantize(model)
  return { ...model, weights: Float32Array.from(q, (x) => x * scale) }
}

const probability = (model: Trained, d: Encoded): number => {
  let z = model.bias
  for (let k = 0; k < d.idx.length; k++) z += model.weights[d.idx[k]!]! * d.val[k]!
  for (let k = 0; k < d.rules.length; k++) z += model.ruleWeights[k]! * d.rules[k]!
  return sigmoid(z)
}

/**
 * The scanner's decision (default threshold 1): the rule score or
 * `p / modelThreshold`, whichever is higher (the rule score is already a model
 * input, so adding it again would count it twice).
 */
export const flaggedAt = (ruleScore: number, p: number, modelThreshold: number, threshold = 1): boolean =>
  (ruleScore >= threshold ? ruleScore : Math.max(ruleScore, p / modelThreshold)) >= threshold

export interface Scored {
  readonly item: Item
  readonly ruleScore: number
  /** Out-of-fold model probability (the fold's model never saw this item). */
  readonly p: number
}

export interface Rates {
  readonly cases: number
  readonly injections: number
  readonly benign: number
  readonly detectionRate: number
  readonly falsePositiveRate: number
}

export const rates = (scored: ReadonlyArray<{ readonly item: Item; readonly flagged: boolean }>): Rates => {
  const inj = scored.filter((s) => s.item.label === "injection")
  const ben = scored.filter((s) => s.item.label === "benign")
  const r4 = (n: number) => Math.round(n * 10000) / 10000
  return {
    cases: scored.length,
    injections: inj.length,
    benign: ben.length,
    detectionRate: r4(inj.length === 0 ? 0 : inj.filter((s) => s.flagged).length / inj.length),
    falsePositiveRate: r4(ben.length === 0 ? 0 : ben.filter((s) => s.flagged).length / ben.length)
  }
}

export const isTaskIrrelevant = (item: Item) => item.category.startsWith("bipia_text:task_irrelevant")
export const permitted = (item: Item) => excludedBecause(item) === undefined

/**
 * 5-fold cross-validation with folds = index % 5: every item gets the
 * probability of the model trained on the permitted items of the other folds.
 */
export const crossValidate = (items: ReadonlyArray<Item>, hyper: Hyper = defaultHyper, background: ReadonlyArray<Item> = []): Array<Scored> => {
  const encoded = items.map((item) => encode(item, hyper.bits, hyper.groups, hyper.ruleInputs, hyper.pseudo))
  const extra = background.map((item) => encode(item, hyper.bits, hyper.groups, hyper.ruleInputs, hyper.pseudo))
  const out: Array<Scored> = new Array(items.length)
  for (let fold = 0; fold < 5; fold++) {
    const trainSet = encoded.filter((_, i) => items[i]!.index % 5 !== fold && permitted(items[i]!)).concat(extra)
    const model = dequantized(train(trainSet, hyper))
    items.forEach((item, i) => {
      if (item.index % 5 === fold) out[i] = { item, ruleScore: encoded[i]!.ruleScore, p: probability(model, encoded[i]!) }
    })
  }
  return out
}

/** The model threshold with the most detection at a false-positive rate within `budget`, on `scored`. */
export const chooseThreshold = (scored: ReadonlyArray<Scored>, budget: number): number => {
  let best = { t: 0.99, det: -1 }
  for (let t = 0.3; t <= 0.995; t += 0.005) {
    const r = rates(scored.map((s) => ({ item: s.item, flagged: flaggedAt(s.ruleScore, s.p, t) })))
    if (r.falsePositiveRate <= budget && r.detectionRate > best.det) best = { t: Math.round(t * 1000) / 1000, det: r.detectionRate }
  }
  return best.t
}

/** Trains on every permitted item (the shipped model). */
export const trainFinal = (items: ReadonlyArray<Item>, hyper: Hyper = defaultHyper, background: ReadonlyArray<Item> = []): Trained =>
  train([...items.filter(permitted), ...background].map((item) => encode(item, hyper.bits, hyper.groups, hyper.ruleInputs, hyper.pseudo)), hyper, true)

const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

const moduleText = (
  model: Trained,
  hyper: Hyper,
  threshold: { readonly chosen: number; readonly cv: number; readonly tests: number },
  counts: { injection: number; benign: number; background: number; sources: Array<string> }
): string => {
  const { scale, q } = quantize(model)
  const f = (x: number) => Number(x.toPrecision(6))
  return `/**
 * GENERATED by test/bench/train-guard.ts — do not edit by hand; retrain with
 * \`npx tsx --conditions=source test/bench/train-guard.ts\` (deterministic: the
 * same data gives the same file).
 *
 * The weights of the linear injection model: logistic regression over hashed
 * ${hyper.groups === "words" ? "word 1-2-grams" : hyper.groups === "chars" ? "character 3-5-grams" : "word 1-2-grams and character 3-5-grams"} of the normalized text
 * (internal/features.ts), int8-quantized, 2^${model.bits} buckets${hyper.ruleInputs ? ", plus rule-scan inputs" : ""}.
 * Settings: ${JSON.stringify(hyper)}.
 *
 * Trained on ${counts.injection} injection and ${counts.benign} benign texts of
 * ../shared/data/injection/dev.jsonl, only rows whose source is under the MIT or
 * Apache-2.0 licence (as stated by each repository):
${counts.sources.map((s) => ` * - ${s}`).join("\n")}
 * plus ${counts.background} benign background sentences: the unique texts of
 * ../shared/data/paraphrase/dev.jsonl (zilliztech/GPTCache mock_data.json, MIT).
 * Never trained on: self-instruct user_oriented_instructions (its authors ask
 * not to train on it), Tensor Trust (no licence), BIPIA task-irrelevant attacks
 * (ordinary requests; injections only inside third-party content).
 *
 * Threshold ${threshold.chosen}: the higher of the cross-validated choice (${threshold.cv}: most
 * detection at <= 2% false positives on the out-of-fold scores of folds 0-3) and
 * the lowest value at which none of the benign trigger-word texts of the unit
 * tests is flagged (${threshold.tests}).
 *
 * @internal
 */

/** The serialized model. */
export const model = {
  version: 1,
  bits: ${model.bits},
  /** Which hashed features the model reads (words: 1-2-grams; chars: 3-5-grams). */
  groups: ${JSON.stringify(hyper.groups)},
  /** Pseudo-count added to the character n-gram count (words: a quarter of it). */
  pseudo: ${hyper.pseudo},
  /** p at which the model alone flags a text. */
  threshold: ${threshold.chosen},
  bias: ${f(model.bias)},
  ruleWeights: [${model.ruleWeights.map(f).join(", ")}],
  scale: ${scale.toPrecision(8)},
  weights:
    "${toBase64(new Uint8Array(q.buffer))}"
} as const
`
}

// -----------------------------------------------------------------------------

const main = () => {
  const args = process.argv.slice(2)
  const arg = (name: string) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const dataPath = resolve(arg("--data") ?? "../shared/data/injection/dev.jsonl")
  const budget = Number(arg("--fp-budget") ?? 0.02)
  const hyper: Hyper = {
    groups: (arg("--groups") ?? defaultHyper.groups) as Hyper["groups"],
    pseudo: Number(arg("--pseudo") ?? defaultHyper.pseudo),
    ruleInputs: args.includes("--rule-inputs") ? true : defaultHyper.ruleInputs,
    bits: Number(arg("--bits") ?? defaultHyper.bits),
    l2: Number(arg("--l2") ?? defaultHyper.l2),
    steps: Number(arg("--steps") ?? defaultHyper.steps),
    rate: Number(arg("--rate") ?? defaultHyper.rate)
  }
  const items = loadItems(dataPath)
  const backgroundPath = arg("--background") ?? "../shared/data/paraphrase/dev.jsonl"
  const background = backgroundPath === "none" ? [] : loadBackground(resolve(backgroundPath))
  const t0 = Date.now()
  const cv = crossValidate(items, hyper, background)
  const dev = cv.filter((s) => s.item.index % 5 !== 4)
  const cvThreshold = chooseThreshold(dev, budget)
  const final = trainFinal(items, hyper, background)
  const finalQ = dequantized(final)
  const benignChecks = [...benignTriggerTexts, ...benignGuardInputs].map((text) => encode({ index: -1, text, label: "benign", category: "" }, hyper.bits, hyper.groups, hyper.ruleInputs, hyper.pseudo))
  // The lowest threshold at which none of the benign trigger-word texts of the unit tests is flagged.
  let testThreshold = 0
  for (const d of benignChecks) if (d.ruleScore < 1) testThreshold = Math.max(testThreshold, Math.ceil((probability(finalQ, d) / 0.995) * 200) / 200)
  const threshold = Math.max(cvThreshold, Math.min(0.995, Math.round(testThreshold * 1000) / 1000))
  const pc = (n: number) => `${(n * 100).toFixed(1)}%`
  const show = (name: string, subset: ReadonlyArray<Scored>) => {
    const r = rates(subset.map((s) => ({ item: s.item, flagged: flaggedAt(s.ruleScore, s.p, threshold) })))
    console.log(`${name.padEnd(46)} detection ${pc(r.detectionRate).padStart(6)} of ${r.injections}  FP ${pc(r.falsePositiveRate).padStart(5)} of ${r.benign}`)
  }
  console.log(`hyper ${JSON.stringify(hyper)}, ${background.length} background texts, ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  console.log(`threshold ${threshold}: cross-validation (folds 0-3, FP budget ${budget}) chose ${cvThreshold}; the benign unit-test texts need ${testThreshold}`)
  show("rules alone (threshold 1), all", cv.map((s) => ({ ...s, p: 0 })))
  show("cross-validated, all", cv)
  show("cross-validated, without task-irrelevant", cv.filter((s) => !isTaskIrrelevant(s.item)))
  show("folds 0-3 (rules tuned here)", dev)
  show("hold-out fold 4, all", cv.filter((s) => s.item.index % 5 === 4))
  show("hold-out fold 4, without task-irrelevant", cv.filter((s) => s.item.index % 5 === 4 && !isTaskIrrelevant(s.item)))
  show("never trained on (tensortrust, user_oriented)", cv.filter((s) => !permitted(s.item) && !isTaskIrrelevant(s.item)))
  if (args.includes("--curve")) {
    for (const t of [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99]) {
      const r = rates(dev.map((s) => ({ item: s.item, flagged: flaggedAt(s.ruleScore, s.p, t) })))
      const h = rates(cv.filter((s) => !isTaskIrrelevant(s.item)).map((s) => ({ item: s.item, flagged: flaggedAt(s.ruleScore, s.p, t) })))
      console.log(`  t ${t}: folds 0-3 detection ${pc(r.detectionRate)} FP ${pc(r.falsePositiveRate)} | all folds w/o task-irrelevant ${pc(h.detectionRate)} FP ${pc(h.falsePositiveRate)}`)
    }
  }
  if (args.includes("--errors")) {
    for (const s of cv) {
      const flagged = flaggedAt(s.ruleScore, s.p, threshold)
      if ((s.item.label === "injection") !== flagged && !isTaskIrrelevant(s.item)) {
        console.log(`[${flagged ? "FP" : "MISS"} #${s.item.index} ${s.item.category} rules ${s.ruleScore} p ${s.p.toFixed(3)}] ${s.item.text.slice(0, 160).replace(/\n/g, " / ")}`)
      }
    }
  }
  const probe = arg("--probe")
  if (probe !== undefined) {
    const texts = readFileSync(probe, "utf8").split("\n").filter((t) => t.length > 0)
    let flagged = 0
    for (const text of texts) {
      const d = encode({ index: -1, text, label: "benign", category: "" }, hyper.bits, hyper.groups, hyper.ruleInputs, hyper.pseudo)
      const p = probability(finalQ, d)
      if (flaggedAt(d.ruleScore, p, threshold)) flagged++
      console.log(`  probe p ${p.toFixed(3)} rules ${d.ruleScore} ${text.slice(0, 60)}`)
    }
    console.log(`probe: ${flagged} of ${texts.length} flagged`)
  }
  if (args.includes("--no-write")) return
  const trainedOn = items.filter(permitted)
  const sources = [...new Set(trainedOn.map((i) => i.category.split(":")[0]!))].sort()
  const licence: Record<string, string> = {
    bipia_code: "microsoft/BIPIA code attacks (MIT)",
    bipia_text: "microsoft/BIPIA text attacks, targeted and task-relevant groups (MIT)",
    bipia_email_context: "microsoft/BIPIA e-mail contexts (MIT; from OpenAI Evals, MIT)",
    purplellama: "meta-llama/PurpleLlama prompt_injection user inputs (MIT)",
    purplellama_frr: "meta-llama/PurpleLlama mitre_frr benign prompts (MIT)",
    giskard: "Giskard-AI/giskard prompt_injections.csv (Apache-2.0)",
    self_reminder: "yjw1029/Self-Reminder-Data jailbreak prompts (MIT)",
    self_instruct: "yizhongw/self-instruct seed tasks (Apache-2.0)",
    mt_bench: "lm-sys/FastChat MT-bench questions (Apache-2.0)",
    vicuna_bench: "lm-sys/FastChat Vicuna-bench questions (Apache-2.0)",
    gsm8k: "openai/grade-school-math test questions (MIT)"
  }
  const out = resolve(fileURLToPath(new URL("../../src/guard/internal/model.ts", import.meta.url)))
  writeFileSync(
    out,
    moduleText(final, hyper, { chosen: threshold, cv: cvThreshold, tests: testThreshold }, {
      injection: trainedOn.filter((i) => i.label === "injection").length,
      benign: trainedOn.filter((i) => i.label === "benign").length,
      background: background.length,
      sources: sources.map((s) => licence[s] ?? s)
    })
  )
  console.log(`wrote ${out}`)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
