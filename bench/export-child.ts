/**
 * The exporter alone in its own process, for the export bench: runs one nightly export against
 * `BENCH_DB_URL` into `BENCH_EXPORT_DIR` and prints `RESULT <json>` with its RSS at start, its
 * peak (VmHWM) and at the end, so the figure is the exporter's own memory, not the harness's.
 */
import { readFileSync } from 'node:fs'
import { getHeapStatistics } from 'node:v8'
import { createPool } from '@loopdm/db/pool'
import { createExportService } from '@loopdm/exporter/services/export.service'
import { loadConfig } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'

const mb = (kb: number) => Math.round(kb / 1024)
function status(field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))
  return m ? Number(m[1]) : 0
}

const url = process.env.BENCH_DB_URL as string
const dir = process.env.BENCH_EXPORT_DIR as string
const rssStart = mb(status('VmRSS'))
const pool = createPool({ connectionString: url, max: 4 })
const config = loadConfig({
  DATABASE_URL: url,
  EXPORT_DIR: dir,
  LOG_LEVEL: 'silent',
  EXPORT_MAX_BYTES: '4GB',
})
const sut = createExportService({ db: pool, config, logger: createLogger({ level: 'silent' }) })
let peakSampled = 0
let heapPeak = 0
let externalPeak = 0
const sampler = setInterval(() => {
  peakSampled = Math.max(peakSampled, status('VmRSS'))
  const m = process.memoryUsage()
  heapPeak = Math.max(heapPeak, m.heapUsed)
  externalPeak = Math.max(externalPeak, m.external)
}, 200)
const cpu0 = process.cpuUsage()
const t0 = performance.now()
const r = await sut.run({ trigger: 'manual', dryRun: false, date: '2026-01-02' })
const secs = (performance.now() - t0) / 1000
const cpu = process.cpuUsage(cpu0)
clearInterval(sampler)
await pool.end()
const out = {
  rowsRead: r.rowsRead,
  examples: r.examples,
  bytes: r.bytes,
  pii: r.pii,
  phaseMs: r.phaseMs,
  curation: { ...r.curation, topRepeated: r.curation.topRepeated.length },
  secs,
  cpuSecs: (cpu.user + cpu.system) / 1e6,
  rssStartMb: rssStart,
  rssPeakMb: mb(Math.max(status('VmHWM'), peakSampled)),
  rssEndMb: mb(status('VmRSS')),
  heapUsedPeakMb: Math.round(heapPeak / 1048576),
  heapLimitMb: Math.round(getHeapStatistics().heap_size_limit / 1048576),
  externalPeakMb: Math.round(externalPeak / 1048576),
}
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`)
process.exit(0)
