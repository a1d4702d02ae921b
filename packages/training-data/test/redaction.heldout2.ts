import type { RedactionCase } from './redaction.corpus.js'

/**
 * Second held-out corpus, by class: the shapes public PII test suites of other projects exercise
 * and the first corpora did not (internationalised and country-level domains, scheme-relative and
 * bracketed links, non-ASCII and punycode addresses, numbers in a row, glued, parenthesised, with
 * extensions or fax labels, dashed IBANs, 12-digit Maestro cards, non-ASCII handles), plus
 * near-miss negatives. Written from what each class means, not from the rules.
 *
 * The test checks each positive case's output exactly: every labelled span becomes its typed
 * placeholder, in place, and nothing else changes (so no fragment such as "jürgen.mü" survives).
 * Cards and IBANs were checked with node (Luhn / mod 97) before they went in.
 */
export type HeldoutClass =
  | 'url-idn'
  | 'url-tld'
  | 'url-scheme-relative'
  | 'url-brackets'
  | 'email-non-ascii'
  | 'email-punycode'
  | 'phone-adjacent'
  | 'phone-glued'
  | 'phone-parens'
  | 'phone-extension'
  | 'phone-label'
  | 'iban-dashes'
  | 'card-maestro-12'
  | 'handle-non-ascii'
  | 'negative'

const one = (text: string, type: RedactionCase['pii'][number][0], value: string): RedactionCase => ({
  text,
  pii: [[type, value]],
})
const none = (text: string, keep: string[]): RedactionCase => ({ text, pii: [], keep })

export const REDACTION_HELDOUT2: Record<HeldoutClass, RedactionCase[]> = {
  'url-idn': [
    one(
      'unser Laden in Tokio: http://ドメイン名例.みんな/shop 見てね',
      'URL',
      'http://ドメイン名例.みんな/shop',
    ),
    one('官网是 例子.中国 ，欢迎光临', 'URL', '例子.中国'),
    one('заказ можно сделать на https://пример.рф/магазин сегодня', 'URL', 'https://пример.рф/магазин'),
    one('die Bücher gibt es auch auf bücher.de im Angebot', 'URL', 'bücher.de'),
    one('Filiale: www.münchen-mode.de/filialen, bis bald', 'URL', 'www.münchen-mode.de/filialen'),
    one('the punycode link xn--bcher-kva.de/sale works too', 'URL', 'xn--bcher-kva.de/sale'),
    one('더 보기: 쇼핑.한국 에서 확인하세요', 'URL', '쇼핑.한국'),
  ],
  'url-tld': [
    one('we also sell through shop.co.il for Israeli customers', 'URL', 'shop.co.il'),
    one('my Australian store is boutique-luna.com.au now', 'URL', 'boutique-luna.com.au'),
    one('the lookbook lives on notion.so/loop-lookbook-2026', 'URL', 'notion.so/loop-lookbook-2026'),
    one('our size guide is on notion.so, ask me for the link', 'URL', 'notion.so'),
    one('please don’t link my page on adult-art.xxx anywhere', 'URL', 'adult-art.xxx'),
    one('old site was annas-atelier.ws, now gone', 'URL', 'annas-atelier.ws'),
    one('the Japanese reseller is tokyo-select.co.jp I think', 'URL', 'tokyo-select.co.jp'),
    one('order the candles at casa-vela.com.mx and tell them I sent you', 'URL', 'casa-vela.com.mx'),
    one('she runs kids-corner.co.za, maybe a collab?', 'URL', 'kids-corner.co.za'),
    one('my portfolio is lena-wolf.style, all the shoots are there', 'URL', 'lena-wolf.style'),
  ],
  'url-scheme-relative': [
    one(
      'the embed uses //player.vimeo.com/video/76979871 as src',
      'URL',
      '//player.vimeo.com/video/76979871',
    ),
    one('image at //cdn.anna-shop.de/img/dress.jpg is broken', 'URL', '//cdn.anna-shop.de/img/dress.jpg'),
    one('try //shop.example.org?ref=insta instead', 'URL', '//shop.example.org?ref=insta'),
  ],
  'url-brackets': [
    one('the dress (https://shop.de/sale/dress-42) is sold out', 'URL', 'https://shop.de/sale/dress-42'),
    one('see [www.loop-studio.at/neu] for the new drop', 'URL', 'www.loop-studio.at/neu'),
    one('my friend’s shop (mia-vintage.de) has it cheaper', 'URL', 'mia-vintage.de'),
    one('{https://api.partner.io/v2/orders} returns 404 for me', 'URL', 'https://api.partner.io/v2/orders'),
    one(
      'like on Wikipedia (https://de.wikipedia.org/wiki/Dirndl_(Tracht)).',
      'URL',
      'https://de.wikipedia.org/wiki/Dirndl_(Tracht)',
    ),
    one('链接【https://例子.中国/页面】打不开', 'URL', 'https://例子.中国/页面'),
  ],
  'email-non-ascii': [
    one('schreib an jürgen.müller@beispiel.de wegen der Rechnung', 'EMAIL', 'jürgen.müller@beispiel.de'),
    one('mi correo es mañana@mañana.com, gracias', 'EMAIL', 'mañana@mañana.com'),
    one('josé.garcía@correo.es recibe la factura', 'EMAIL', 'josé.garcía@correo.es'),
    one('Rechnung bitte an info@bücher-laden.de', 'EMAIL', 'info@bücher-laden.de'),
    one('γράψτε στο δοκιμή@παράδειγμα.ελ για την παραγγελία', 'EMAIL', 'δοκιμή@παράδειγμα.ελ'),
    one('发票请寄到 用户@例子.中国 谢谢', 'EMAIL', '用户@例子.中国'),
    one('søren.ørsted@firma.dk vil gerne have kvitteringen', 'EMAIL', 'søren.ørsted@firma.dk'),
  ],
  'email-punycode': [
    one('our mail server shows it as info@xn--bcher-kva.de', 'EMAIL', 'info@xn--bcher-kva.de'),
    one('reply to kontakt@xn--80ak6aa92e.xn--p1ai please', 'EMAIL', 'kontakt@xn--80ak6aa92e.xn--p1ai'),
    one('Bestellung kam von shop@xn--mnchen-3ya.de, ist das echt?', 'EMAIL', 'shop@xn--mnchen-3ya.de'),
  ],
  'phone-adjacent': [
    {
      text: 'call 415-555-0132 415-555-0133 either is fine',
      pii: [
        ['PHONE', '415-555-0132'],
        ['PHONE', '415-555-0133'],
      ],
    },
    {
      text: 'numbers: (212) 555-0188 (212) 555-0199',
      pii: [
        ['PHONE', '(212) 555-0188'],
        ['PHONE', '(212) 555-0199'],
      ],
    },
    {
      text: 'Handy 0151 2345678 0171 9876543, egal welche',
      pii: [
        ['PHONE', '0151 2345678'],
        ['PHONE', '0171 9876543'],
      ],
    },
    {
      text: 'office 555-123-4567,555-987-6543',
      pii: [
        ['PHONE', '555-123-4567'],
        ['PHONE', '555-987-6543'],
      ],
    },
    { text: 'order 48213 415-555-0101 is mine', pii: [['PHONE', '415-555-0101']], keep: ['48213'] },
    { text: 'Zimmer 12 0151 2345678 ab 18 Uhr', pii: [['PHONE', '0151 2345678']], keep: ['12', '18 Uhr'] },
  ],
  'phone-glued': [
    one('my number is415-555-0132 text me', 'PHONE', '415-555-0132'),
    one('ruf mich an unter0176-98765432 bitte', 'PHONE', '0176-98765432'),
    one('whatsapp+49 170 1234567 any time', 'PHONE', '+49 170 1234567'),
    one('Kontakt:Telefon030/1234567', 'PHONE', '030/1234567'),
  ],
  'phone-parens': [
    one('call(415)555-0132 after lunch', 'PHONE', '(415)555-0132'),
    one('my number (415-555-0177) is new', 'PHONE', '415-555-0177'),
    one('Festnetz (030)1234567, Handy kommt noch', 'PHONE', '(030)1234567'),
    one('Tel.(+49)17012345678 ab 9 Uhr', 'PHONE', '(+49)17012345678'),
  ],
  'phone-extension': [
    one('office (555) 123-4567 ext 7246433 ask for Tom', 'PHONE', '(555) 123-4567 ext 7246433'),
    one('London office +44 20 7946 0958 ext. 204', 'PHONE', '+44 20 7946 0958 ext. 204'),
    one('call 212-555-0188 x12 for returns', 'PHONE', '212-555-0188 x12'),
    one('Zentrale 0211 55 66 77, Durchwahl 31', 'PHONE', '0211 55 66 77, Durchwahl 31'),
  ],
  'phone-label': [
    one('Fax: 5551234567', 'PHONE', '5551234567'),
    {
      text: 'T: 4155550132 | M: 4155550199',
      pii: [
        ['PHONE', '4155550132'],
        ['PHONE', '4155550199'],
      ],
    },
    one('Téléphone : 4155550123 (bureau)', 'PHONE', '4155550123'),
    one('Telefax 71234567, Büro Mo–Fr', 'PHONE', '71234567'),
    one('Ph: 2125550142 if the courier gets lost', 'PHONE', '2125550142'),
  ],
  'iban-dashes': [
    one('IBAN DE89-3704-0044-0532-0130-00 für die Erstattung', 'IBAN', 'DE89-3704-0044-0532-0130-00'),
    one('refund to GB82-WEST-1234-5698-7654-32 thanks', 'IBAN', 'GB82-WEST-1234-5698-7654-32'),
    one('rekening NL91-ABNA-0417-1643-00 graag', 'IBAN', 'NL91-ABNA-0417-1643-00'),
    one('virement sur FR14-2004-1010-0505-0001-3M02-606 svp', 'IBAN', 'FR14-2004-1010-0505-0001-3M02-606'),
  ],
  'card-maestro-12': [
    one('my maestro 501800001239 was charged twice', 'CARD', '501800001239'),
    one('Maestro-Karte 6304 0000 5678, bitte prüfen', 'CARD', '6304 0000 5678'),
    one('paid with 675955551238 at the pop-up', 'CARD', '675955551238'),
  ],
  'handle-non-ascii': [
    one('follow @mañana for the restock', 'HANDLE', '@mañana'),
    one('Fotos von @jürgen_k, frag ihn', 'HANDLE', '@jürgen_k'),
    one('подпишитесь на @совушка.шоп!', 'HANDLE', '@совушка.шоп'),
    one('tag @café.lumière in the story', 'HANDLE', '@café.lumière'),
  ],
  negative: [
    none('the jacket is €29.90 now, was €39.90', ['€29.90', '€39.90']),
    none('Lieferung am 2026-12-01 zwischen 10:30 und 12:00', ['2026-12-01', '10:30', '12:00']),
    none('app v1.2.3 crashed, after 1.10.0-beta.2 it works', ['v1.2.3', '1.10.0-beta.2']),
    none('what the f!@kn hell happened to my parcel', ['f!@kn']),
    none('$#@! the zipper broke again', ['$#@!']),
    none('npm i lodash@4.17.21 and @types/node fixed the build', ['lodash@4.17.21', '@types/node']),
    none('order #100234567 and Bestellnummer 4006381333931', ['#100234567', '4006381333931']),
    none('pi is 3.14159 and the fabric is 0.5mm thick', ['3.14159', '0.5mm']),
    none('ok.so what about the blue one?', ['ok.so']),
    none('love you guys.xxx', ['guys.xxx']),
    none('ISBN 978-3-16-148410-0 for the lookbook', ['978-3-16-148410-0']),
    none('Rechnung RE-2026-0412 über 1.299,00 €', ['RE-2026-0412', '1.299,00 €']),
    none('open 9:00–18:00, Sat 10–14', ['9:00–18:00', '10–14']),
    none('file lookbook_v2.pdf and sizes.xlsx attached', ['lookbook_v2.pdf', 'sizes.xlsx']),
    none('the code 7391 8462 0055 expired, same for 340434161234', ['7391 8462 0055', '340434161234']),
    none('card look-alike 501800001230 fails its checksum', ['501800001230']),
    none('IBAN DE89-3704-0044-0532-0130-01 has a typo', ['DE89-3704-0044-0532-0130-01']),
    none('Sendung 0034 0434 1612 3456 7890 fehlt', ['0034 0434 1612 3456 7890']),
    none('2 @ €15 and 3 @ €12 please', ['2 @ €15', '3 @ €12']),
    none('the price was 2x24,95 or 49,90 total on 01.12.2026', ['2x24,95', '49,90', '01.12.2026']),
    none('ssh deploy@localhost failed, regex [^@]+@[^@]+ too', ['deploy@localhost', '[^@]+@[^@]+']),
    none('temperature 21.5°C, humidity 40%, 1013 hPa', ['21.5°C', '1013 hPa']),
  ],
}
