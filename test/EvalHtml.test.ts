import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { chromium } from "playwright-core"
import { makeHandler } from "../evals/example.simulator.js"
import * as Eval from "../src/eval/Eval.js"
import * as Report from "../src/eval/Report.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const chromiumPath = "/usr/bin/chromium"

/** Runs the example suite on the simulator: a good baseline, then a broken run. */
const reports = Effect.gen(function*() {
  const simulator = yield* ProviderSimulator.make()
  const { suite } = yield* Eval.loadFile("evals/example.suite.yaml")
  const providerOverride = { openaiBaseURL: simulator.openaiBaseURL, anthropicBaseURL: simulator.anthropicBaseURL, apiKey: Redacted.make("k") }
  yield* simulator.setHandler(makeHandler())
  const baseline = yield* Eval.run(suite, { providerOverride, cache: false })
  yield* simulator.setHandler(makeHandler({ broken: true }))
  const current = yield* Eval.run(suite, { providerOverride, cache: false })
  return { baseline, current }
})

describe("Eval HTML report in headless Chromium", () => {
  it.scopedLive("renders the cases × models matrix with regressions and diffs; screenshot saved", () =>
    Effect.gen(function*() {
      const { baseline, current } = yield* reports
      const comparison = Eval.compare(current, baseline)
      const dir = mkdtempSync(NodePath.join(tmpdir(), "eval-html-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const file = NodePath.join(dir, "report.html")
      writeFileSync(file, Report.html(current, comparison))

      // A fresh profile per run; the Debian package's binary, never a download.
      const context = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launchPersistentContext(NodePath.join(dir, "profile"), {
            executablePath: chromiumPath,
            headless: true,
            viewport: { width: 1280, height: 900 },
            args: [
              "--headless",
              "--no-sandbox",
              "--disable-gpu",
              "--disable-quic",
              "--no-first-run",
              "--disable-background-networking",
              "--disable-component-update",
              "--disable-sync"
            ]
          })
        ),
        (c) => Effect.promise(() => c.close())
      )
      const page = yield* Effect.promise(() => context.newPage())
      const requests: Array<string> = []
      page.on("request", (r) => requests.push(r.url()))
      yield* Effect.promise(() => page.goto(pathToFileURL(file).href))

      const seen = yield* Effect.promise(() =>
        page.evaluate(() => {
          const visible = (el: Element) => {
            const box = el.getBoundingClientRect()
            return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== "hidden"
          }
          const cells = Array.from(document.querySelectorAll("#matrix td.cell")).filter(visible)
          return {
            cells: cells.length,
            rows: document.querySelectorAll("#matrix tbody tr").length,
            columns: Array.from(document.querySelectorAll("#matrix thead th[scope=col]")).map((th) => th.textContent),
            failed: cells.filter((c) => c.getAttribute("data-status") === "fail").map((c) => c.getAttribute("data-key")),
            regressedBadges: Array.from(document.querySelectorAll(".change.regressed")).filter(visible).length,
            failBackground: getComputedStyle(document.querySelector("td.cell.fail")!).backgroundColor,
            passBackground: getComputedStyle(document.querySelector("td.cell.pass")!).backgroundColor,
            diffInsertions: Array.from(document.querySelectorAll("td.cell.fail pre.diff ins")).filter(visible).map((e) => e.textContent),
            passRate: document.querySelector(".summary")!.textContent
          }
        })
      )
      expect(seen.cells).toBe(14)
      expect(seen.rows).toBe(7)
      expect(seen.columns).toEqual(["openai-mini", "claude-haiku"])
      expect(seen.failed.sort()).toEqual(["arithmetic-multiply / task / claude-haiku", "arithmetic-multiply / task / openai-mini"])
      expect(seen.regressedBadges).toBe(2)
      expect(seen.diffInsertions).toEqual(["381", "381"])
      expect(seen.failBackground).not.toBe(seen.passBackground)
      expect(seen.passRate).toContain("85.7%")
      expect(requests.every((url) => url.startsWith("file:"))).toBe(true)

      mkdirSync("test-output", { recursive: true })
      const shot = NodePath.resolve("test-output/eval-report.png")
      const png = yield* Effect.promise(() => page.screenshot({ path: shot, fullPage: true }))
      expect(png.subarray(1, 4).toString("latin1")).toBe("PNG")
      expect(png.length).toBeGreaterThan(20_000)
    }), { timeout: 30_000 })
})
