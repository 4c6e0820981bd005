/**
 * Semantic cache benchmark.
 *
 *   npx tsx test/bench/semantic.ts [--data FILE] [--threshold T] [--out FILE]
 *
 * On a JSONL file of pairs `{"a", "b", "label"}` (label 1: paraphrases, 0: different
 * questions), it decides for each pair whether the semantic cache, holding `a`,
 * would answer `b` — similarity ≥ threshold and the guards agree, exactly the test
 * `SemanticCache` applies — and prints, per embedder:
 *
 * - hit rate: the share of label-1 pairs that hit (higher is better);
 * - false-hit rate: the share of label-0 pairs that hit (an answer to the wrong
 *   question: lower is better, and it matters more);
 *
 * plus the same without the guards, and a sweep of thresholds for the record.
 * Then the p50 of one lookup (embed the question with the local embedder + exact
 * search of one scope) at 10 000 and 100 000 entries. Writes
 * docs/benchmarks/semantic.json (or `--out`).
 *
 * Embedders: `local` (Embeddings.local, deterministic, no network) and
 * `openai-simulator` (Embeddings.openAi through the real SDK against the
 * ProviderSimulator, whose /v1/embeddings is a toy hash of words and word pairs:
 * its figures exercise the wire path and say nothing about a real embedding model).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Redacted } from "effect"
import * as SemanticCache from "../../src/cache/SemanticCache.js"
import * as VectorIndex from "../../src/cache/VectorIndex.js"
import * as Embeddings from "../../src/providers/Embeddings.js"
import * as ProviderSimulator from "../../src/testing/ProviderSimulator.js"

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const dataFile = arg("data") ?? new URL("../../../shared/data/paraphrase/dev.jsonl", import.meta.url).pathname
const outFile = arg("out") ?? new URL("../../docs/benchmarks/semantic.json", import.meta.url).pathname
const threshold = Number(arg("threshold") ?? SemanticCache.defaultThreshold)

interface Pair {
  readonly a: string
  readonly b: string
  readonly label: 0 | 1
}
const pairs: ReadonlyArray<Pair> = readFileSync(dataFile, "utf8").split("\n").filter((l) => l.trim().length > 0).map((l) => {
  const row = JSON.parse(l) as { a: unknown; b: unknown; label: unknown }
  if (typeof row.a !== "string" || typeof row.b !== "string" || (row.label !== 0 && row.label !== 1)) {
    throw new Error(`Bad row in ${dataFile}: ${l.slice(0, 120)}`)
  }
  return { a: row.a, b: row.b, label: row.label }
})
const positives = pairs.filter((p) => p.label === 1).length
const negatives = pairs.length - positives

const rates = (scores: ReadonlyArray<number>, t: number, guarded: boolean) => {
  let hits = 0
  let falseHits = 0
  pairs.forEach((pair, i) => {
    if (scores[i]! < t) return
    if (guarded && !SemanticCache.compatible(pair.a, pair.b)) return
    if (pair.label === 1) hits++
    else falseHits++
  })
  return { hitRate: positives === 0 ? 0 : hits / positives, falseHitRate: negatives === 0 ? 0 : falseHits / negatives }
}

const scoresWith = (embedder: Embeddings.Service) =>
  Effect.gen(function*() {
    const a = yield* embedder.embed(pairs.map((p) => p.a))
    const b = yield* embedder.embed(pairs.map((p) => p.b))
    return pairs.map((_, i) => Embeddings.similarity(a[i]!, b[i]!))
  })

const pct = (x: number) => `${(100 * x).toFixed(1)}%`

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

const lookupP50 = (entries: number) =>
  Effect.gen(function*() {
    const embedder = Embeddings.local()
    const index = yield* VectorIndex.makeMemory()
    // Entries: embeddings of the data set's texts with a distinguishing suffix, so
    // the vectors look like real ones (sparse, clustered), not random noise.
    const texts = pairs.flatMap((p) => [p.a, p.b])
    for (let i = 0; i < entries; i++) {
      const vector = Embeddings.localEmbedding(`${texts[i % texts.length]} #${i}`, embedder.dimensions)
      yield* index.add("scope", `${i}`, vector)
    }
    const timings: Array<number> = []
    for (let q = 0; q < 60; q++) {
      const question = texts[(q * 7919) % texts.length]!
      const started = performance.now()
      const [vector] = yield* embedder.embed([question])
      yield* index.search("scope", vector!, 4)
      const elapsed = performance.now() - started
      if (q >= 10) timings.push(elapsed) // the first lookups warm the JIT
    }
    return percentile(timings, 0.5)
  })

const program = Effect.gen(function*() {
  console.log(`data: ${dataFile} (${positives} paraphrase pairs, ${negatives} different-question pairs)`)
  console.log(`threshold: ${threshold}`)
  const sim = yield* ProviderSimulator.make({ apiKey: "sk-bench" })
  const embedders: Record<string, Embeddings.Service> = {
    local: Embeddings.local(),
    "openai-simulator": yield* Embeddings.openAi({
      apiKey: Redacted.make("sk-bench"),
      baseURL: sim.openaiBaseURL,
      modelDimensions: 256
    })
  }
  const results: Record<string, { hitRate: number; falseHitRate: number }> = {}
  for (const [name, embedder] of Object.entries(embedders)) {
    const scores = yield* scoresWith(embedder)
    const guarded = rates(scores, threshold, true)
    const raw = rates(scores, threshold, false)
    results[name] = { hitRate: round(guarded.hitRate), falseHitRate: round(guarded.falseHitRate) }
    console.log(
      `\n${name}: hit rate ${pct(guarded.hitRate)}, false-hit rate ${pct(guarded.falseHitRate)}` +
        `  (threshold only, no guards: ${pct(raw.hitRate)} / ${pct(raw.falseHitRate)})`
    )
    console.log("  threshold  hit    false-hit   | without guards: hit  false-hit")
    for (const t of [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]) {
      const g = rates(scores, t, true)
      const r = rates(scores, t, false)
      console.log(`  ${t.toFixed(2)}       ${pct(g.hitRate).padEnd(6)} ${pct(g.falseHitRate).padEnd(11)} |                 ${pct(r.hitRate).padEnd(5)} ${pct(r.falseHitRate)}`)
    }
  }
  if (embedders["openai-simulator"] !== undefined) {
    console.log("\n(openai-simulator: the simulator's /v1/embeddings is a toy word hash; its figures say nothing about a real model)")
  }

  const p50: Record<string, number> = {}
  for (const n of [10_000, 100_000]) {
    p50[`${n}`] = round(yield* lookupP50(n), 3)
    console.log(`lookup p50 at ${n} entries (embed + exact search, 512 dims): ${p50[`${n}`]} ms`)
  }

  const report = { threshold, embedders: results, lookupP50Ms: p50 }
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, `${JSON.stringify(report, null, 2)}\n`)
  console.log(`\nwrote ${outFile}`)
})

function round(x: number, digits = 4) {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
