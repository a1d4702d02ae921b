/**
 * V8 flags per app, for `npm start` (scripts/start.ts) and the export bench. The exporter's heap
 * is capped: its live state is bounded (the active users' last turns, two pages, 16 bytes a master
 * line) but V8 otherwise lets garbage grow the heap to several times that during a million-row
 * export (bench: 350+ MB peak RSS uncapped, ~210 MB capped, for ~40 % more GC CPU). A run whose
 * window holds very many distinct users (≫ 10,000) needs a larger cap. Keep in step with
 * docker-compose.yml's exporter NODE_OPTIONS.
 */
export const APP_NODE_FLAGS: Record<string, string[]> = {
  exporter: ['--max-old-space-size=96', '--max-semi-space-size=8'],
}

/**
 * The flags `npm start` gives `app`'s process. A heap size the operator set in NODE_OPTIONS
 * (`--max-old-space-size=…`) wins over the cap: a shop with a very large nightly window raises it there.
 */
export function nodeFlagsFor(app: string, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const flags = APP_NODE_FLAGS[app] ?? []
  return nodeOptions.includes('--max-old-space-size')
    ? flags.filter((f) => !f.startsWith('--max-old-space-size'))
    : flags
}
