/**
 * Renders an evaluation {@link Eval.Report}: a console table, JSON, JUnit XML (what
 * CI systems read), and one self-contained HTML file (a matrix of cases × models
 * with pass/fail, scores, outputs and word diffs against the baseline) that a
 * person can open without a server or network.
 *
 * Hand-written rather than templated: the HTML and XML are small, and escaping is
 * all they need.
 *
 * @since 0.1.0
 */
import type * as Assertions from "./Assertions.js"
import * as Eval from "./Eval.js"

// -----------------------------------------------------------------------------
// Console
// -----------------------------------------------------------------------------

const width = (text: string) => [...text].length
const pad = (text: string, n: number) => text + " ".repeat(Math.max(0, n - width(text)))
const symbol = (status: Eval.Status) => status === "pass" ? "✓" : status === "fail" ? "✗" : "!"
const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`
const usd = (value: number) => `$${value.toFixed(6)}`
const ms = (value: number) => `${Math.round(value)}ms`

const rowsOf = (report: Eval.Report) => {
  const rows: Array<{ caseId: string; promptId: string }> = []
  for (const caseId of report.cases) {
    for (const promptId of report.prompts) {
      if (report.cells.some((c) => c.caseId === caseId && c.promptId === promptId)) rows.push({ caseId, promptId })
    }
  }
  return rows
}

const cellAt = (report: Eval.Report, caseId: string, promptId: string, model: string) =>
  report.cells.find((c) => c.caseId === caseId && c.promptId === promptId && c.model === model)

/**
 * Why a cell did not pass, in one line.
 *
 * @since 0.1.0
 * @category rendering
 */
export const failureReason = (cell: Eval.CellResult): string => {
  const reasons: Array<string> = []
  for (const run of cell.runs) {
    if (run.error !== undefined && run.assertions.every((a) => a.error === undefined)) reasons.push(`error: ${run.error}`)
    for (const a of run.assertions) {
      if (!a.pass && (a.weight > 0 || a.error !== undefined)) reasons.push(`${a.description ?? a.type}: ${a.error ?? a.reason}`)
    }
  }
  const unique = [...new Set(reasons)]
  const prefix = cell.runs.length > 1 ? `passed ${cell.runs.filter((r) => r.pass).length}/${cell.runs.length}, needed ${percent(cell.requiredPassRate)}; ` : ""
  return prefix + (unique.length === 0 ? `weighted score ${cell.score.toFixed(2)} under the case threshold` : unique.join("; "))
}

/**
 * A plain-text table of cases × models with a summary, the failures, and the
 * changes against the baseline when one is given.
 *
 * @since 0.1.0
 * @category rendering
 */
export const consoleTable = (report: Eval.Report, comparison?: Eval.Comparison): string => {
  const rows = rowsOf(report)
  const header = ["case / prompt", ...report.models]
  const body = rows.map(({ caseId, promptId }) => [
    report.prompts.length > 1 ? `${caseId} / ${promptId}` : caseId,
    ...report.models.map((model) => {
      const cell = cellAt(report, caseId, promptId, model)
      if (cell === undefined) return "-"
      const reps = cell.runs.length > 1 ? ` ${cell.runs.filter((r) => r.pass).length}/${cell.runs.length}` : ""
      return `${symbol(cell.status)} ${cell.score.toFixed(2)}${reps} ${ms(cell.latencyMillis)}${batched(cell) ? " [b]" : ""}`
    })
  ])
  const widths = header.map((h, i) => Math.max(width(h), ...body.map((r) => width(r[i]!))))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => pad(c, widths[i]!)).join(" │ ")
  const s = report.summary
  const out: Array<string> = [
    `Suite ${report.suite}: ${report.cases.length} case(s) × ${report.prompts.length} prompt(s) × ${report.models.length} model(s) = ${s.cells} cell(s)`,
    "",
    line(header),
    widths.map((w) => "─".repeat(w)).join("─┼─"),
    ...body.map(line),
    "",
    `Passed ${s.passed}/${s.cells} (${percent(s.passRate)}) · failed ${s.failed} · errors ${s.errors} · ` +
    `calls ${s.calls} (${s.cachedCalls} from cache) · tokens ${s.tokens.input} in / ${s.tokens.output} out · ` +
    `cost ${usd(s.costUsd)}${s.costIncomplete ? " (some costs unknown)" : ""} · ${ms(s.durationMillis)}`
  ]
  if (s.batches !== undefined) {
    out.push("", `Batch mode: ${s.batchedCalls ?? 0} of ${s.calls} call(s) answered by provider batch jobs ([b] in the table)`)
    for (const target of s.batches) out.push(`  ${batchLine(target)}`)
  }
  const failing = report.cells.filter((c) => c.status !== "pass")
  if (failing.length > 0) {
    out.push("", "Failures:")
    for (const cell of failing) out.push(`  ${symbol(cell.status)} ${Eval.cellLabel(cell)}: ${failureReason(cell)}`)
  }
  if (comparison !== undefined) {
    out.push(
      "",
      `Baseline: pass rate ${percent(comparison.baselinePassRate)} → ${percent(comparison.passRate)}; ` +
        `${comparison.regressions.length} regression(s), ${comparison.improvements.length} improvement(s), ` +
        `${comparison.added.length} new, ${comparison.removed.length} gone`
    )
    for (const r of comparison.regressions) out.push(`  ↓ ${r.label}: ${r.before.status} → ${r.after.status}`)
    for (const r of comparison.improvements) out.push(`  ↑ ${r.label}: ${r.before.status} → ${r.after.status}`)
  }
  return out.join("\n")
}

/** Whether some run of the cell was answered by a batch job. */
const batched = (cell: Eval.CellResult) => cell.runs.some((r) => r.batch !== undefined)

const duration = (millis: number) => {
  const total = Math.round(millis / 1000)
  const h = Math.floor(total / 3600)
  const m = Math.floor((total % 3600) / 60)
  const sec = total % 60
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`
}

/**
 * What batch mode did with one model, in one line.
 *
 * @since 0.1.0
 * @category rendering
 */
export const batchLine = (target: Eval.BatchTarget): string => {
  const price = target.discount !== undefined ? ` at ${Math.round(target.discount * 100)}% of the live price` : ""
  switch (target.outcome) {
    case "batched":
      return `${target.model}: job ${target.job} (${target.state}), ${target.calls} call(s), ${target.failedCalls} failed, ` +
        `${usd(target.costUsd)}${price}, ${duration(target.durationMillis)}`
    case "failed":
      return `${target.model}: ${target.job !== undefined ? `job ${target.job}` : "the job"} failed after ${duration(target.durationMillis)}; ` +
        `its ${target.calls} call(s) are errors: ${target.note ?? "no reason given"}`
    case "cached":
      return `${target.model}: no job, ${target.note ?? "every call was cached"}`
    case "online":
      return `${target.model}: called live: ${target.note ?? "not batched"}`
  }
}

// -----------------------------------------------------------------------------
// JSON
// -----------------------------------------------------------------------------

/**
 * The report as JSON (what a baseline file holds).
 *
 * @since 0.1.0
 * @category rendering
 */
export const json = (report: Eval.Report): string => Eval.encodeReport(report)

// -----------------------------------------------------------------------------
// JUnit XML
// -----------------------------------------------------------------------------

const invalidXml = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

/**
 * Escapes text for XML content and attributes (and drops characters XML 1.0
 * cannot carry).
 *
 * @since 0.1.0
 * @category rendering
 */
export const escapeXml = (text: string): string =>
  text.replace(invalidXml, "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;")

const seconds = (millis: number) => (millis / 1000).toFixed(3)

/**
 * The report as JUnit XML: `<testsuites>` with one `<testsuite>` per model and one
 * `<testcase>` per case × prompt (classname `suite.model`), a `<failure>` for a
 * failed cell, an `<error>` for a provider or judge error, and the output in
 * `<system-out>`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const junit = (report: Eval.Report): string => {
  const s = report.summary
  const lines: Array<string> = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="${escapeXml(report.suite)}" tests="${s.cells}" failures="${s.failed}" errors="${s.errors}" time="${seconds(s.durationMillis)}">`
  ]
  for (const model of report.models) {
    const cells = report.cells.filter((c) => c.model === model)
    const time = cells.reduce((t, c) => t + c.latencyMillis * c.runs.length, 0)
    lines.push(
      `  <testsuite name="${escapeXml(`${report.suite} › ${model}`)}" tests="${cells.length}" ` +
        `failures="${cells.filter((c) => c.status === "fail").length}" errors="${cells.filter((c) => c.status === "error").length}" ` +
        `skipped="0" time="${seconds(time)}" timestamp="${escapeXml(report.startedAt.replace(/\.\d+Z$/, ""))}">`
    )
    const target = s.batches?.find((t) => t.model === model)
    if (target !== undefined) {
      const property = (name: string, value: string | number | undefined) =>
        value === undefined ? [] : [`      <property name="${escapeXml(name)}" value="${escapeXml(String(value))}"/>`]
      lines.push(
        `    <properties>`,
        ...property("batch.outcome", target.outcome),
        ...property("batch.job", target.job),
        ...property("batch.state", target.state),
        ...property("batch.calls", target.calls),
        ...property("batch.failedCalls", target.failedCalls),
        ...property("batch.costUsd", target.costUsd),
        ...property("batch.discount", target.discount),
        ...property("batch.note", target.note),
        `    </properties>`
      )
    }
    for (const cell of cells) {
      const name = report.prompts.length > 1 ? `${cell.caseId} [${cell.promptId}]` : cell.caseId
      lines.push(
        `    <testcase name="${escapeXml(name)}" classname="${escapeXml(`${report.suite}.${model}`)}" time="${seconds(cell.latencyMillis * cell.runs.length)}">`
      )
      if (cell.status === "fail") {
        const reason = failureReason(cell)
        lines.push(`      <failure message="${escapeXml(reason)}" type="AssertionFailure">${escapeXml(detailOf(cell))}</failure>`)
      } else if (cell.status === "error") {
        lines.push(`      <error message="${escapeXml(failureReason(cell))}" type="ProviderError">${escapeXml(detailOf(cell))}</error>`)
      }
      lines.push(`      <system-out>${escapeXml(cell.runs.map((r) => r.output).join("\n---\n"))}</system-out>`)
      lines.push(`    </testcase>`)
    }
    lines.push(`  </testsuite>`)
  }
  lines.push(`</testsuites>`, "")
  return lines.join("\n")
}

const detailOf = (cell: Eval.CellResult): string =>
  cell.runs.map((run) =>
    [
      `run ${run.iteration}: ${run.pass ? "pass" : "fail"} (score ${run.score.toFixed(2)}, ${ms(run.latencyMillis)})` +
      (run.batch !== undefined ? ` [batch job ${run.batch.job}, item ${run.batch.customId}]` : ""),
      ...(run.error !== undefined ? [`  error: ${run.error}`] : []),
      ...run.assertions.map((a) => `  ${a.pass ? "✓" : "✗"} ${a.description ?? a.type}: ${a.error ?? a.reason}`)
    ].join("\n")
  ).join("\n")

// -----------------------------------------------------------------------------
// Diffs
// -----------------------------------------------------------------------------

/**
 * A piece of a word diff.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiffPart {
  readonly kind: "same" | "added" | "removed"
  readonly text: string
}

/**
 * A word-level diff (longest common subsequence over words and spaces); texts
 * too long for that are shown as one removal and one addition.
 *
 * @since 0.1.0
 * @category rendering
 */
export const diffWords = (before: string, after: string): ReadonlyArray<DiffPart> => {
  const a = before.split(/(\s+)/).filter((t) => t.length > 0)
  const b = after.split(/(\s+)/).filter((t) => t.length > 0)
  if (a.length * b.length > 400_000) {
    return [{ kind: "removed", text: before }, { kind: "added", text: after }]
  }
  const n = a.length
  const m = b.length
  const lcs: Array<Uint32Array> = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
    }
  }
  const parts: Array<DiffPart> = []
  const push = (kind: DiffPart["kind"], text: string) => {
    const last = parts[parts.length - 1]
    if (last !== undefined && last.kind === kind) parts[parts.length - 1] = { kind, text: last.text + text }
    else parts.push({ kind, text })
  }
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      push("same", a[i]!)
      i++
      j++
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) push("removed", a[i++]!)
    else push("added", b[j++]!)
  }
  while (i < n) push("removed", a[i++]!)
  while (j < m) push("added", b[j++]!)
  return parts
}

// -----------------------------------------------------------------------------
// HTML
// -----------------------------------------------------------------------------

/**
 * Escapes text for HTML.
 *
 * @since 0.1.0
 * @category rendering
 */
export const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")

const style = `
:root { --pass: #1a7f37; --fail: #cf222e; --error: #9a6700; --bg: #f6f8fa; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 20px; margin: 0 0 4px; }
.sub { color: #59636e; margin: 0 0 16px; }
.summary { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 16px; }
.stat { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
.stat b { display: block; font-size: 18px; }
.bar { height: 8px; background: #ffebe9; border-radius: 4px; overflow: hidden; margin: 0 0 16px; max-width: 640px; }
.bar span { display: block; height: 100%; background: var(--pass); }
table.matrix { border-collapse: collapse; width: 100%; table-layout: fixed; }
.matrix th, .matrix td { border: 1px solid var(--line); padding: 6px 8px; vertical-align: top; text-align: left; }
.matrix thead th { background: var(--bg); }
.matrix th.row { width: 220px; font-weight: 600; }
.matrix th.row small { display: block; font-weight: normal; color: #59636e; }
td.cell.pass { background: #dafbe1; } td.cell.fail { background: #ffebe9; } td.cell.error { background: #fff8c5; }
.badge { display: inline-block; font-weight: 700; padding: 0 6px; border-radius: 10px; color: #fff; font-size: 12px; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.error { background: var(--error); }
.change { font-size: 12px; font-weight: 700; margin-left: 4px; }
.change.regressed { color: var(--fail); } .change.improved { color: var(--pass); }
.meta { color: #59636e; font-size: 12px; }
details { margin-top: 4px; } summary { cursor: pointer; font-size: 12px; color: #0969da; }
pre { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 6px; margin: 4px 0; font-size: 12px; }
ul.asserts { margin: 4px 0; padding-left: 18px; font-size: 12px; }
ul.asserts li.ok { color: var(--pass); } ul.asserts li.ko { color: var(--fail); }
ins { background: #aceebb; text-decoration: none; } del { background: #ffcecb; }
.changes li { margin: 2px 0; }
.batched { font-weight: 600; color: #8250df; } ul.batches li.failed { color: var(--fail); }
`

const statusLabel = { pass: "PASS", fail: "FAIL", error: "ERROR" } as const

const assertionItem = (a: Assertions.AssertionResult) =>
  `<li class="${a.pass ? "ok" : "ko"}">${a.pass ? "✓" : "✗"} <b>${escapeHtml(a.description ?? a.type)}</b>` +
  `${a.weight !== 1 ? ` <span class="meta">w=${a.weight}</span>` : ""} <span class="meta">score ${a.score.toFixed(2)}` +
  `${a.threshold !== 1 ? ` / ${a.threshold}` : ""}</span> — ${escapeHtml(a.error ?? a.reason)}</li>`

const diffHtml = (parts: ReadonlyArray<DiffPart>) =>
  parts.map((p) => p.kind === "same" ? escapeHtml(p.text) : p.kind === "added" ? `<ins>${escapeHtml(p.text)}</ins>` : `<del>${escapeHtml(p.text)}</del>`).join("")

const cellHtml = (cell: Eval.CellResult, comparison: Eval.Comparison | undefined) => {
  const key = Eval.cellKey(cell)
  const before = comparison?.baseline.get(key)
  const change = before === undefined
    ? ""
    : before.status === "pass" && cell.status !== "pass"
    ? `<span class="change regressed" title="was ${before.status}">▼ regressed</span>`
    : before.status !== "pass" && cell.status === "pass"
    ? `<span class="change improved" title="was ${before.status}">▲ improved</span>`
    : ""
  const reps = cell.runs.length > 1 ? ` · ${cell.runs.filter((r) => r.pass).length}/${cell.runs.length} runs (need ${percent(cell.requiredPassRate)})` : ""
  const runs = cell.runs.map((run) => {
    const previous = before?.runs.find((r) => r.iteration === run.iteration)
    const diff = previous !== undefined && previous.output !== run.output
      ? `<div class="meta">diff against the baseline:</div><pre class="diff">${diffHtml(diffWords(previous.output, run.output))}</pre>`
      : ""
    return `${cell.runs.length > 1 ? `<div class="meta">run ${run.iteration}: ${run.pass ? "pass" : "fail"}</div>` : ""}` +
      `<pre class="output">${escapeHtml(run.output)}</pre>` +
      (run.batch !== undefined ? `<div class="meta">batch job ${escapeHtml(run.batch.job)}, item ${escapeHtml(run.batch.customId)}</div>` : "") +
      (run.error !== undefined ? `<div class="meta">error: ${escapeHtml(run.error)}</div>` : "") +
      diff +
      `<ul class="asserts">${run.assertions.map(assertionItem).join("")}</ul>`
  }).join("")
  const tokens = `${cell.tokens.input}/${cell.tokens.output} tok`
  const cost = cell.costUsd === undefined ? "cost ?" : usd(cell.costUsd)
  return `<td class="cell ${cell.status}" data-key="${escapeHtml(Eval.cellLabel(cell))}" data-status="${cell.status}">` +
    `<span class="badge ${cell.status}">${statusLabel[cell.status]}</span>${change} ` +
    `<span class="score">${cell.score.toFixed(2)}</span>` +
    `<div class="meta">${ms(cell.latencyMillis)} · ${tokens} · ${cost}${cell.runs.some((r) => r.cached) ? " · cached" : ""}` +
    `${batched(cell) ? ` · <span class="batched">batched</span>` : ""}${reps}</div>` +
    (cell.status !== "pass" ? `<div class="meta">${escapeHtml(failureReason(cell))}</div>` : "") +
    `<details${cell.status !== "pass" || change !== "" ? " open" : ""}><summary>output and assertions</summary>${runs}</details></td>`
}

/**
 * The report as one self-contained HTML page (inline CSS, no scripts, no network):
 * summary figures, the matrix of cases (× prompts) × models with status, score,
 * latency, tokens and cost per cell, each cell's output and assertions, and —
 * with a baseline — regressions, improvements and word diffs of changed outputs.
 *
 * @since 0.1.0
 * @category rendering
 */
export const html = (report: Eval.Report, comparison?: Eval.Comparison): string => {
  const s = report.summary
  const rows = rowsOf(report)
  const stat = (label: string, value: string) => `<div class="stat"><span class="meta">${label}</span><b>${value}</b></div>`
  const changes = comparison === undefined ? "" : `<h2>Against the baseline</h2>` +
    `<p>Pass rate ${percent(comparison.baselinePassRate)} → ${percent(comparison.passRate)}: ` +
    `${comparison.regressions.length} regression(s), ${comparison.improvements.length} improvement(s), ` +
    `${comparison.added.length} new cell(s), ${comparison.removed.length} gone.</p>` +
    `<ul class="changes">${[
      ...comparison.regressions.map((r) => `<li class="regressed">▼ ${escapeHtml(r.label)}: ${r.before.status} → ${r.after.status}</li>`),
      ...comparison.improvements.map((r) => `<li class="improved">▲ ${escapeHtml(r.label)}: ${r.before.status} → ${r.after.status}</li>`)
    ].join("")}</ul>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eval: ${escapeHtml(report.suite)}</title>
<style>${style}</style>
</head>
<body>
<h1>Eval: ${escapeHtml(report.suite)}</h1>
<p class="sub">${report.description !== undefined ? `${escapeHtml(report.description)} · ` : ""}started ${escapeHtml(report.startedAt)}</p>
<div class="summary">
${stat("pass rate", percent(s.passRate))}${stat("passed", `${s.passed}/${s.cells}`)}${stat("failed", String(s.failed))}${stat("errors", String(s.errors))}${stat("calls", `${s.calls} (${s.cachedCalls} cached)`)}${stat("tokens", `${s.tokens.input} in / ${s.tokens.output} out`)}${stat("cost", usd(s.costUsd) + (s.costIncomplete ? "+" : ""))}${stat("duration", ms(s.durationMillis))}${s.batches !== undefined ? stat("batched calls", `${s.batchedCalls ?? 0}/${s.calls}`) : ""}
</div>
${s.batches === undefined ? "" : `<h2>Batch mode</h2><ul class="batches">${s.batches.map((t) => `<li class="${t.outcome}">${escapeHtml(batchLine(t))}</li>`).join("")}</ul>`}
<div class="bar" title="pass rate"><span style="width:${(s.passRate * 100).toFixed(1)}%"></span></div>
${changes}
<table class="matrix" id="matrix">
<thead><tr><th class="row">case${report.prompts.length > 1 ? " / prompt" : ""}</th>${report.models.map((m) => `<th scope="col">${escapeHtml(m)}</th>`).join("")}</tr></thead>
<tbody>
${rows.map(({ caseId, promptId }) => {
    const first = report.cells.find((c) => c.caseId === caseId && c.promptId === promptId)
    return `<tr><th class="row" scope="row">${escapeHtml(caseId)}${report.prompts.length > 1 ? ` / ${escapeHtml(promptId)}` : ""}` +
      `${first?.description !== undefined ? `<small>${escapeHtml(first.description)}</small>` : ""}` +
      `${first !== undefined ? `<details><summary>prompt</summary><pre>${escapeHtml(first.prompt)}</pre></details>` : ""}</th>` +
      report.models.map((model) => {
        const cell = cellAt(report, caseId, promptId, model)
        return cell === undefined ? `<td class="cell none">—</td>` : cellHtml(cell, comparison)
      }).join("") + `</tr>`
  }).join("\n")}
</tbody>
</table>
</body>
</html>
`
}
