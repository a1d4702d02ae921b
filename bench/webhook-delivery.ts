import { signBody } from '../apps/gateway/src/services/signature.js'

/**
 * Delivery `i` of the webhook bench as Meta sends it: one plain text message from one of 500
 * customers, with mid `<midPrefix>.<i>` (unique per run, so no delivery is a cheaper re-delivery)
 * and its X-Hub-Signature-256 (HMAC-SHA256 of the raw body with the app secret).
 */
export function signedDelivery(i: number, midPrefix: string, secret: string): { body: string; sig: string } {
  const body = JSON.stringify({
    object: 'instagram',
    entry: [
      {
        id: '17841400000000000',
        time: 1_700_000_000_000,
        messaging: [
          {
            sender: { id: `bench-user-${i % 500}` },
            recipient: { id: '17841400000000000' },
            timestamp: 1_700_000_000_000 + i,
            message: { mid: `${midPrefix}.${i}`, text: `How much is shipping to Vienna? #${i}` },
          },
        ],
      },
    ],
  })
  return { body, sig: signBody(body, secret) }
}
