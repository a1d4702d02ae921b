/**
 * The demo's live DMs: what ~20 customers write to Linden & Loom (evals/shop.md) in a day. Casual,
 * varied, some with personal data (emails, phone numbers, handles) that the export must redact.
 * They are not gold prompts: the gold set (evals/gold.jsonl) never reaches the training data.
 */
export const LIVE_DM_TEMPLATES: readonly string[] = [
  'hiii 👋',
  'do you have the beanie in mustard yellow?',
  'is the green chunky scarf back in stock',
  'my email is anna.kurz@gmail.com, can you send me the invoice there',
  'you can call me on +49 170 1234567 if easier',
  'can I bring my dog into the shop?',
  'do you run knitting workshops?',
  'what yarn brand do you use',
  'is the alpaca from peru?',
  'love your feed!! 😍',
  'my friend @lena.strickt recommended you',
  'do you make matching sets for kids and parents',
  'do you have a loyalty card',
  'are the dyes natural',
  'can I see the cardigan in navy in person on thursday',
  'ok cool',
  'haha yes',
  'what colours are new this season',
  'is the tote bag organic cotton',
  'i ordered with the wrong address, street should be Hauptstr 5 not 6',
  'my number is 0151 98765432 call me pls',
  'do you sell yarn on its own',
  'is parking easy near the shop',
  'do you collaborate with other makers',
  'can I pay with apple pay in the shop',
  'the mittens look so cosy',
  'do you have vegan options, no wool',
  'my sister wants one too, can I order two',
  'how do I become a stockist',
  'is there a waiting list for the cardigan',
  'I will come by saturday with my mum',
  'sent you a mail at hello from petra.s@web.de',
  'are the socks good for hiking',
  'do you do custom embroidery with names',
  'do you have a youtube channel with tutorials',
  'what needles size is in the kit',
  'is the shop wheelchair accessible',
  'can you hold a scarf for me until friday',
  'beautiful work as always',
  'see you soon!',
]

/** Deterministic pick of `n` DMs for user `u` (0-based). */
export function liveDmsFor(u: number, n: number): string[] {
  const out: string[] = []
  for (let i = 0; i < n; i++)
    out.push(LIVE_DM_TEMPLATES[(u * 7 + i * 3) % LIVE_DM_TEMPLATES.length] as string)
  return out
}
