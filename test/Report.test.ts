import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Eval from "../src/eval/Eval.js"
import * as Report from "../src/eval/Report.js"
import * as LlmError from "../src/LlmError.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

// -----------------------------------------------------------------------------
// A strict little XML parser (no XML library in the project): well-formedness
// errors throw, entities are decoded, so the checks below work on the parsed tree.
// -----------------------------------------------------------------------------

interface XmlElement {
  readonly name: string
  readonly attributes: Readonly<Record<string, string>>
  readonly children: ReadonlyArray<XmlElement>
  readonly text: string
}

const decodeEntities = (raw: string): string => {
  if (/<|&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(raw)) throw new Error(`unescaped markup in ${JSON.stringify(raw.slice(0, 40))}`)
  return raw.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) =>
    e === "amp" ? "&" : e === "lt" ? "<" : e === "gt" ? ">" : e === "quot" ? "\"" : e === "apos" ? "'"
    : String.fromCodePoint(e.startsWith("#x") ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)))
}

const parseXml = (xml: string): XmlElement => {
  let i = 0
  const fail = (message: string): never => {
    throw new Error(`XML: ${message} at ${i}`)
  }
  const skipSpace = () => {
    while (/\s/.test(xml[i] ?? "")) i++
  }
  if (xml.startsWith("<?xml")) {
    const end = xml.indexOf("?>")
    if (end < 0) fail("unterminated prolog")
    if (!/^<\?xml version="1\.0" encoding="UTF-8"\?>$/.test(xml.slice(0, end + 2))) fail("unexpected prolog")
    i = end + 2
  }
  const name = () => {
    const m = /^[A-Za-z_][\w.-]*/.exec(xml.slice(i))
    if (m === null) return fail("expected a name")
    i += m[0].length
    return m[0]
  }
  const element = (): XmlElement => {
    if (xml[i] !== "<") fail("expected <")
    i++
    const tag = name()
    const attributes: Record<string, string> = {}
    for (;;) {
      skipSpace()
      if (xml.startsWith("/>", i)) {
        i += 2
        return { name: tag, attributes, children: [], text: "" }
      }
      if (xml[i] === ">") {
        i++
        break
      }
      const key = name()
      if (key in attributes) fail(`duplicate attribute ${key}`)
      if (xml[i] !== "=" || xml[i + 1] !== "\"") fail(`attribute ${key} needs ="..."`)
      i += 2
      const end = xml.indexOf("\"", i)
      if (end < 0) fail("unterminated attribute")
      attributes[key] = decodeEntities(xml.slice(i, end))
      i = end + 1
    }
    const children: Array<XmlElement> = []
    let text = ""
    for (;;) {
      if (i >= xml.length) fail(`unclosed <${tag}>`)
      if (xml.startsWith("</", i)) {
        i += 2
        const closing = name()
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`)
        skipSpace()
        if (xml[i] !== ">") fail("expected >")
        i++
        return { name: tag, attributes, children, text }
      }
      if (xml.startsWith("<!--", i)) {
        const end = xml.indexOf("-->", i)
        if (end < 0) fail("unterminated comment")
        i = end + 3
      } else if (xml[i] === "<") {
        children.push(element())
      } else {
        const next = xml.indexOf("<", i)
        text += decodeEntities(xml.slice(i, next < 0 ? xml.length : next))
        i = next < 0 ? xml.length : next
      }
    }
  }
  skipSpace()
  const root = element()
  skipSpace()
  if (i !== xml.length) fail("content after the root element")
  return root
}

// -----------------------------------------------------------------------------
// The JUnit schema's structure (the Jenkins/Ant junit.xsd as CI tools read it)
// -----------------------------------------------------------------------------

const decimal = /^\d+(\.\d+)?$/
const integer = /^\d+$/
const isoTimestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/

const validateJUnit = (root: XmlElement): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const need = (el: XmlElement, attr: string, pattern?: RegExp) => {
    const v = el.attributes[attr]
    if (v === undefined) problems.push(`<${el.name}> lacks ${attr}`)
    else if (pattern !== undefined && !pattern.test(v)) problems.push(`<${el.name} ${attr}="${v}"> is malformed`)
  }
  if (root.name !== "testsuites") problems.push(`root is <${root.name}>`)
  for (const a of ["tests", "failures", "errors"]) need(root, a, integer)
  need(root, "time", decimal)
  let tests = 0
  let failures = 0
  let errors = 0
  for (const suite of root.children) {
    if (suite.name !== "testsuite") {
      problems.push(`<testsuites> contains <${suite.name}>`)
      continue
    }
    need(suite, "name")
    for (const a of ["tests", "failures", "errors"]) need(suite, a, integer)
    need(suite, "time", decimal)
    if (suite.attributes["timestamp"] !== undefined && !isoTimestamp.test(suite.attributes["timestamp"])) problems.push("bad timestamp")
    const cases = suite.children.filter((c) => c.name === "testcase")
    for (const c of suite.children) {
      if (!["properties", "testcase", "system-out", "system-err"].includes(c.name)) problems.push(`<testsuite> contains <${c.name}>`)
    }
    for (const c of cases) {
      need(c, "name")
      need(c, "classname")
      need(c, "time", decimal)
      for (const child of c.children) {
        if (!["skipped", "error", "failure", "system-out", "system-err"].includes(child.name)) problems.push(`<testcase> contains <${child.name}>`)
        if (child.name === "failure" || child.name === "error") need(child, "message")
      }
      if (c.children.filter((x) => x.name === "failure" || x.name === "error").length > 1) problems.push("more than one failure/error")
    }
    const f = cases.filter((c) => c.children.some((x) => x.name === "failure")).length
    const e = cases.filter((c) => c.children.some((x) => x.name === "error")).length
    if (Number(suite.attributes["tests"]) !== cases.length) problems.push(`${suite.attributes["name"]}: tests=${suite.attributes["tests"]} but ${cases.length} testcases`)
    if (Number(suite.attributes["failures"]) !== f) problems.push(`${suite.attributes["name"]}: failures mismatch`)
    if (Number(suite.attributes["errors"]) !== e) problems.push(`${suite.attributes["name"]}: errors mismatch`)
    tests += cases.length
    failures += f
    errors += e
  }
  if (Number(root.attributes["tests"]) !== tests) problems.push("testsuites tests mismatch")
  if (Number(root.attributes["failures"]) !== failures) problems.push("testsuites failures mismatch")
  if (Number(root.attributes["errors"]) !== errors) problems.push("testsuites errors mismatch")
  return problems
}

// -----------------------------------------------------------------------------

const tricky = "5 <b>&amp;</b> \"quoted\" 'single' \u0001 ünïcødé ✓"

const sampleReport = Effect.gen(function*() {
  const good = yield* ScriptedModel.make((request) => {
    const text = request.messages[0]!.content
    return { text: text.includes("tricky") ? tricky : text.includes("2 + 3") ? "5" : "42" }
  })
  const bad = yield* ScriptedModel.make((request) =>
    request.messages[0]!.content.includes("2 + 3")
      ? new LlmError.ProviderUnavailable({ kind: "server", message: "upstream <500>" })
      : { text: "41" }
  )
  const suite = yield* Eval.make({
    name: "report & co",
    prompts: [{ id: "ask", template: "{{q}}" }],
    models: ["good", "bad"],
    cases: [
      { id: "sum", vars: { q: "2 + 3" }, assertions: [{ type: "equals", value: "5" }] },
      { id: "answer", description: "the <answer>", vars: { q: "the answer" }, assertions: [{ type: "equals", value: "42" }] },
      { id: "escape", vars: { q: "tricky" }, assertions: [{ type: "contains", value: "5" }] }
    ]
  })
  return yield* Eval.run(suite, { models: { good: good.service, bad: bad.service }, cache: false })
})

describe("Report", () => {
  it.effect("JUnit XML parses and has the schema's required structure and consistent counts", () =>
    Effect.gen(function*() {
      const report = yield* sampleReport
      const root = parseXml(Report.junit(report))
      expect(validateJUnit(root)).toEqual([])
      expect(root.attributes).toMatchObject({ name: "report & co", tests: "6", failures: "2", errors: "1" })
      expect(root.children.map((s) => s.attributes["name"])).toEqual(["report & co › good", "report & co › bad"])
      const bad = root.children[1]!
      const [sum, answer] = bad.children
      expect(sum!.children[0]!.name).toBe("error")
      expect(sum!.children[0]!.attributes["message"]).toContain("upstream <500>")
      expect(answer!.attributes["classname"]).toBe("report & co.bad")
      expect(answer!.children[0]!.name).toBe("failure")
      expect(answer!.children[0]!.attributes["message"]).toContain("expected \"42\", got \"41\"")
      const escape = root.children[0]!.children[2]!
      expect(escape.children.find((c) => c.name === "system-out")!.text).toBe(tricky.replace("\u0001", ""))
    }))

  it.effect("a batched report's JUnit keeps the schema: batch facts as <properties> of the model's <testsuite>", () =>
    Effect.gen(function*() {
      const report = yield* sampleReport
      const batched = new Eval.Report({
        ...report,
        cells: report.cells.map((cell) =>
          cell.model === "good"
            ? new Eval.CellResult({ ...cell, runs: cell.runs.map((r) => new Eval.RunResult({ ...r, batch: { job: "batch_1", customId: `0_${cell.caseId}` } })) })
            : cell
        ),
        summary: new Eval.Summary({
          ...report.summary,
          batchedCalls: 3,
          batches: [
            new Eval.BatchTarget({ model: "good", outcome: "batched", job: "batch_1", state: "completed", calls: 3, failedCalls: 0, costUsd: 0.0001, discount: 0.5, durationMillis: 60_000 }),
            new Eval.BatchTarget({ model: "bad", outcome: "online", note: "a <note> & more", calls: 0, failedCalls: 0, costUsd: 0, durationMillis: 0 })
          ]
        })
      })
      const root = parseXml(Report.junit(batched))
      expect(validateJUnit(root)).toEqual([])
      const [good, bad] = root.children
      expect(good!.children[0]!.name).toBe("properties")
      const props = (suite: XmlElement) =>
        Object.fromEntries(suite.children[0]!.children.map((p) => [p.attributes["name"], p.attributes["value"]]))
      expect(props(good!)).toEqual({
        "batch.outcome": "batched",
        "batch.job": "batch_1",
        "batch.state": "completed",
        "batch.calls": "3",
        "batch.failedCalls": "0",
        "batch.costUsd": "0.0001",
        "batch.discount": "0.5"
      })
      expect(props(bad!)).toMatchObject({ "batch.outcome": "online", "batch.note": "a <note> & more" })
      expect(good!.children.filter((c) => c.name === "testcase")).toHaveLength(3)
    }))

  it("the validator and parser catch broken JUnit (so the test above can fail)", () => {
    expect(() => parseXml("<testsuites><testsuite></testsuites>")).toThrow()
    expect(() => parseXml("<a>1 < 2</a>")).toThrow()
    expect(() => parseXml("<a b=\"1\" b=\"2\"/>")).toThrow()
    const missing = parseXml("<testsuites tests=\"1\" failures=\"0\" errors=\"0\" time=\"0\"><testsuite name=\"s\" tests=\"2\" failures=\"0\" errors=\"0\" time=\"1\"><testcase name=\"a\" time=\"x\"><failure/></testcase></testsuite></testsuites>")
    expect(validateJUnit(missing)).toEqual(expect.arrayContaining([
      "<testcase> lacks classname",
      "<testcase time=\"x\"> is malformed",
      "<failure> lacks message",
      "s: tests=2 but 1 testcases"
    ]))
  })

  it.effect("the console table shows the matrix, the totals, the failures and the baseline changes", () =>
    Effect.gen(function*() {
      const report = yield* sampleReport
      const baseline = new Eval.Report({
        ...report,
        cells: report.cells.map((c) => c.model === "bad" && c.caseId === "answer" ? new Eval.CellResult({ ...c, status: "pass" }) : c)
      })
      const text = Report.consoleTable(report, Eval.compare(report, baseline))
      const lines = text.split("\n")
      expect(lines.find((l) => l.startsWith("case / prompt"))).toMatch(/good\s+│ bad/)
      expect(lines.find((l) => l.startsWith("sum "))).toMatch(/✓ 1\.00 .*│ ! 0\.00/)
      expect(lines.find((l) => l.startsWith("answer "))).toMatch(/✓ 1\.00 .*│ ✗ 0\.00/)
      expect(text).toContain("Passed 3/6 (50.0%) · failed 2 · errors 1")
      expect(text).toContain("✗ answer / ask / bad: equals: expected \"42\", got \"41\"")
      expect(text).toContain("! sum / ask / bad: error: ProviderUnavailable: upstream <500>")
      expect(text).toContain("1 regression(s)")
      expect(text).toContain("↓ answer / ask / bad: pass → fail")
    }))

  it.effect("JSON is the report's encoded form and decodes back", () =>
    Effect.gen(function*() {
      const report = yield* sampleReport
      const back = yield* Eval.decodeReport(Report.json(report))
      expect(back.summary).toEqual(report.summary)
      expect(back.cells.map((c) => c.runs[0]!.output)).toEqual(report.cells.map((c) => c.runs[0]!.output))
    }))

  it("diffWords: a word-level diff that reassembles both sides", () => {
    const parts = Report.diffWords("Où est la gare ?", "Où est la bibliothèque ?")
    expect(parts).toEqual([
      { kind: "same", text: "Où est la " },
      { kind: "removed", text: "gare" },
      { kind: "added", text: "bibliothèque" },
      { kind: "same", text: " ?" }
    ])
    const a = "the quick brown fox jumps"
    const b = "a quick red fox jumped over"
    const diff = Report.diffWords(a, b)
    expect(diff.filter((p) => p.kind !== "added").map((p) => p.text).join("")).toBe(a)
    expect(diff.filter((p) => p.kind !== "removed").map((p) => p.text).join("")).toBe(b)
  })

  it.effect("HTML is one self-contained page with escaped outputs and a cell per case × model", () =>
    Effect.gen(function*() {
      const report = yield* sampleReport
      const page = Report.html(report)
      expect(page.startsWith("<!doctype html>")).toBe(true)
      expect(page).not.toMatch(/<script|<link|src=|https?:\/\//)
      expect(page.match(/<td class="cell (pass|fail|error)"/g)).toHaveLength(6)
      expect(page).toContain("5 &lt;b&gt;&amp;amp;&lt;/b&gt;")
      expect(page).not.toContain("<b>&amp;</b>")
      expect(page).toContain("the &lt;answer&gt;")
    }))
})
