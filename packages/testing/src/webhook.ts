import { createHmac, randomBytes } from 'node:crypto'

/**
 * Instagram webhook bodies as Meta sends them, signed independently of the gateway's own code
 * (`sha256=<hex HMAC-SHA256 of the raw body>` in `X-Hub-Signature-256`), so a test checks the
 * gateway against the spec rather than against itself.
 */
export function signWebhookBody(body: string | Buffer, appSecret: string): string {
  return `sha256=${createHmac('sha256', appSecret).update(body).digest('hex')}`
}

/** A webhook body with one message event (text and/or image) from `user` to `account`. */
export function dmWebhookBody(args: {
  user: string
  mid: string
  account: string
  text?: string
  imageUrl?: string
  isEcho?: boolean
}) {
  const { account } = args
  const message: Record<string, unknown> = { mid: args.mid }
  if (args.text !== undefined) message.text = args.text
  if (args.imageUrl) message.attachments = [{ type: 'image', payload: { url: args.imageUrl } }]
  if (args.isEcho) message.is_echo = true
  return {
    object: 'instagram',
    entry: [
      {
        id: account,
        time: Date.now(),
        messaging: [
          {
            sender: { id: args.isEcho ? account : args.user },
            recipient: { id: args.isEcho ? args.user : account },
            timestamp: Date.now(),
            message,
          },
        ],
      },
    ],
  }
}

/** A fresh message id (`mid.<hex>`). */
export const newMid = (): string => `mid.${randomBytes(8).toString('hex')}`

/** Unique Instagram-scoped user id for a test. */
export const igUser = (): string => `igsid-${randomBytes(6).toString('hex')}`
