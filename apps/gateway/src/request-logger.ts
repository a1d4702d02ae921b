import type { FastifyBaseLogger } from 'fastify'

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>
type Log = (...args: unknown[]) => void

/**
 * A request's logger (Fastify's `req.log`) that makes its pino child on the first call. Fastify
 * binds every request's id in a child logger; with the redaction paths, pino's `child()` runs the
 * bindings through the redactor — a few µs on each webhook, which almost never logs. A request
 * that logs gets exactly the child Fastify would have made (same bindings, same options).
 */
export class RequestLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  private get log(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings, this.options)
    return this.made
  }

  get level(): string {
    return this.made?.level ?? this.options.level ?? this.parent.level
  }

  set level(level: string) {
    this.log.level = level
  }

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.log.child(bindings, options)
  }

  fatal(...args: unknown[]): void {
    ;(this.log.fatal as Log)(...args)
  }
  error(...args: unknown[]): void {
    ;(this.log.error as Log)(...args)
  }
  warn(...args: unknown[]): void {
    ;(this.log.warn as Log)(...args)
  }
  info(...args: unknown[]): void {
    ;(this.log.info as Log)(...args)
  }
  debug(...args: unknown[]): void {
    ;(this.log.debug as Log)(...args)
  }
  trace(...args: unknown[]): void {
    ;(this.log.trace as Log)(...args)
  }
  silent(...args: unknown[]): void {
    ;(this.log.silent as Log)(...args)
  }
}
