import type { RedactionCase } from './redaction.corpus.js'

/**
 * Held-out PII corpus: customer DMs to a small fashion / home-goods shop, written from the redactor's
 * contract only, without looking at its rules (see git history). Labelling decisions:
 * - Obfuscated e-mail addresses ("anna dot schmidt at gmail dot com", "m.mueller(at)gmx.de") are EMAIL:
 *   a human reads them as an address. The label is the whole obfuscated span.
 * - A link that contains a handle or a phone number (tiktok.com/@x, wa.me/49...) is one URL, nothing else.
 * - HANDLE is an @handle only; "@ 5pm", "2 @ €15" are not handles.
 * - Bare parcel tracking numbers, order numbers, EANs, SKUs are not PII (keep), even when they look like
 *   phone or card numbers (one EAN below passes Luhn). A tracking number inside a tracking link is a URL.
 * - CARD and IBAN only when the checksum is valid (all labelled ones verified with node); checksum-invalid
 *   look-alikes are in keep.
 * - Card expiry dates and CVVs are neither labelled nor kept (outside the contract).
 */
export const REDACTION_HELDOUT: RedactionCase[] = [
  // ---------------------------------------------------------------- EMAIL
  {
    text: 'hi! can you send the invoice to anna.schmidt@gmail.com pls 🙏',
    pii: [['EMAIL', 'anna.schmidt@gmail.com']],
  },
  {
    text: 'my email: Lena.Weber+shop@outlook.de.',
    pii: [['EMAIL', 'Lena.Weber+shop@outlook.de']],
  },
  {
    text: 'you can write me at anna dot schmidt at gmail dot com, thanks',
    pii: [['EMAIL', 'anna dot schmidt at gmail dot com']],
  },
  {
    text: 'Meine Mail ist m.mueller(at)gmx.de – danke!',
    pii: [['EMAIL', 'm.mueller(at)gmx.de']],
  },
  {
    text: 'schreib mir einfach an sophie [at] web [dot] de, whatsapp hab ich nicht',
    pii: [['EMAIL', 'sophie [at] web [dot] de']],
  },
  {
    text: 'ANNA.KLEIN@T-ONLINE.DE bitte an diese adresse die rechnung',
    pii: [['EMAIL', 'ANNA.KLEIN@T-ONLINE.DE']],
  },
  {
    text: 'Rechnung bitte an <jonas.b@posteo.de>, nicht an die alte Adresse',
    pii: [['EMAIL', 'jonas.b@posteo.de']],
  },
  {
    text: 'email—emma_r@icloud.com—thanks!',
    pii: [['EMAIL', 'emma_r@icloud.com']],
  },
  {
    text: 'scrivimi a marco.rossi@libero.it per la fattura, grazie',
    pii: [['EMAIL', 'marco.rossi@libero.it']],
  },
  {
    text: "Bonjour, pouvez-vous m'envoyer la facture à fatima.elamrani@hotmail.fr ? merci",
    pii: [['EMAIL', 'fatima.elamrani@hotmail.fr']],
  },
  {
    text: 'stuur de factuur maar naar lotte.devries@ziggo.nl aub',
    pii: [['EMAIL', 'lotte.devries@ziggo.nl']],
  },
  {
    text: 'sarah.k@yahoo.com is my paypal email, can you send a request for €84.50?',
    pii: [['EMAIL', 'sarah.k@yahoo.com']],
    keep: ['€84.50'],
  },
  {
    text: 'uni mail geht auch: k.schulz@student.uni-heidelberg.de',
    pii: [['EMAIL', 'k.schulz@student.uni-heidelberg.de']],
  },
  {
    text: 'meine mail ist paul punkt meier at gmx punkt de (ohne leerzeichen natürlich)',
    pii: [['EMAIL', 'paul punkt meier at gmx punkt de']],
  },
  {
    text: 'nina.k @ gmail.com <- da bitte die retourenmarke hin',
    pii: [['EMAIL', 'nina.k @ gmail.com']],
  },
  {
    text: 'das ist die richtige: "ben.schr@proton.me" die andere ist alt',
    pii: [['EMAIL', 'ben.schr@proton.me']],
  },
  {
    text: 'Hi there, I placed order #50332 with the wrong email, it should be olivia.grant1987@gmail.com not olivia.grant1978@gmail.com 🙈',
    pii: [
      ['EMAIL', 'olivia.grant1987@gmail.com'],
      ['EMAIL', 'olivia.grant1978@gmail.com'],
    ],
    keep: ['#50332'],
  },
  {
    text: 'para la factura: carmen.ruiz.lopez@gmail.es',
    pii: [['EMAIL', 'carmen.ruiz.lopez@gmail.es']],
  },

  // ---------------------------------------------------------------- PHONE
  {
    text: 'Hallo, meine Nummer ist 0151 23456789, ruf gern ab 17 Uhr an',
    pii: [['PHONE', '0151 23456789']],
    keep: ['17 Uhr'],
  },
  {
    text: '+49 176 98765432 ist meine handynummer falls DHL anrufen muss',
    pii: [['PHONE', '+49 176 98765432']],
  },
  {
    text: 'ring me on 07700 900123 after 6pm',
    pii: [['PHONE', '07700 900123']],
    keep: ['6pm'],
  },
  {
    text: 'our office number is +44 20 7946 0958, ask for Claire',
    pii: [['PHONE', '+44 20 7946 0958']],
  },
  {
    text: 'call me (415) 555-0132 pls, the courier cant find the house',
    pii: [['PHONE', '(415) 555-0132']],
  },
  {
    text: '415.555.0198 is my cell, text anytime',
    pii: [['PHONE', '415.555.0198']],
  },
  {
    text: 'mon numéro : 06 12 34 56 78',
    pii: [['PHONE', '06 12 34 56 78']],
  },
  {
    text: 'Vous pouvez me joindre au +33 (0)6 45 67 89 12 demain matin',
    pii: [['PHONE', '+33 (0)6 45 67 89 12']],
  },
  {
    text: 'mi número es 612 345 678, llámame cuando llegue el paquete',
    pii: [['PHONE', '612 345 678']],
  },
  {
    text: 'escríbeme por WhatsApp al +34 699 12 34 56 😊',
    pii: [['PHONE', '+34 699 12 34 56']],
  },
  {
    text: 'il mio numero è 347 123 4567, il corriere non ha suonato',
    pii: [['PHONE', '347 123 4567']],
  },
  {
    text: 'ciao! +39 333 9876543 per il corriere',
    pii: [['PHONE', '+39 333 9876543']],
  },
  {
    text: 'bel me even op 06-12345678 als het pakket er is',
    pii: [['PHONE', '06-12345678']],
  },
  {
    text: 'mijn nummer is +31 6 23456789',
    pii: [['PHONE', '+31 6 23456789']],
  },
  {
    text: 'Servus, bin unter +43 664 1234567 erreichbar, lg aus Graz',
    pii: [['PHONE', '+43 664 1234567']],
  },
  {
    text: 'Grüezi, Natel +41 79 123 45 67',
    pii: [['PHONE', '+41 79 123 45 67']],
  },
  {
    text: 'nummer für den fahrer: 0049 151 23456789',
    pii: [['PHONE', '0049 151 23456789']],
  },
  {
    text: 'Festnetz 030/98765432, tagsüber bin ich aber im Büro',
    pii: [['PHONE', '030/98765432']],
  },
  {
    text: 'hab die nummer falsch angegeben, richtig ist 0176-12345678',
    pii: [['PHONE', '0176-12345678']],
  },
  {
    text: 'meine nr 0157 345 678 90 bitte nur whatsapp',
    pii: [['PHONE', '0157 345 678 90']],
  },
  {
    text: '+4915112345678',
    pii: [['PHONE', '+4915112345678']],
  },
  {
    text: 'Tel. 0211 - 55 66 77 (Büro, Mo-Fr)',
    pii: [['PHONE', '0211 - 55 66 77']],
  },
  {
    text: 'kostet 39,90 € oder? ruf mich an 0172 9988776',
    pii: [['PHONE', '0172 9988776']],
    keep: ['39,90 €'],
  },
  {
    text: 'Tel. (0 30) 12 34 56 78 – meine Oma nimmt das Paket an',
    pii: [['PHONE', '(0 30) 12 34 56 78']],
  },
  {
    text: 'my number in NY is +1-212-555-0147, I am there until 03/20',
    pii: [['PHONE', '+1-212-555-0147']],
    keep: ['03/20'],
  },
  {
    text: 'handy 0160 1122334',
    pii: [['PHONE', '0160 1122334']],
  },
  {
    text: 'Ich hab am 12.03.2026 bestellt (#48290) und keine Mail bekommen. Nummer: 0152 / 345 678 12',
    pii: [['PHONE', '0152 / 345 678 12']],
    keep: ['12.03.2026', '#48290'],
  },

  // ---------------------------------------------------------------- IBAN
  {
    text: 'bitte überweisen Sie zurück auf DE31 7607 0024 0123 4567 89, Kontoinhaberin Julia Berg',
    pii: [['IBAN', 'DE31 7607 0024 0123 4567 89']],
  },
  {
    text: 'IBAN:DE18430609671234567800 danke',
    pii: [['IBAN', 'DE18430609671234567800']],
  },
  {
    text: 'hier meine IBAN de44 5001 0517 5407 3249 31',
    pii: [['IBAN', 'de44 5001 0517 5407 3249 31']],
  },
  {
    text: 'AT24 2011 1822 2121 9800 (Erste Bank) für die Rückerstattung der 59,90 €',
    pii: [['IBAN', 'AT24 2011 1822 2121 9800']],
    keep: ['59,90 €'],
  },
  {
    text: 'Voici mon RIB : FR76 3000 6000 0112 3456 7890 189. Merci !',
    pii: [['IBAN', 'FR76 3000 6000 0112 3456 7890 189']],
  },
  {
    text: 'Mi IBAN es ES60 0049 1500 0512 3456 7892 para el reembolso de 35€',
    pii: [['IBAN', 'ES60 0049 1500 0512 3456 7892']],
    keep: ['35€'],
  },
  {
    text: 'mijn rekeningnummer NL20INGB0001234567, groetjes',
    pii: [['IBAN', 'NL20INGB0001234567']],
  },
  {
    text: 'IBAN IT25 Y030 6909 6061 0000 0063 214 grazie mille',
    pii: [['IBAN', 'IT25 Y030 6909 6061 0000 0063 214']],
  },
  {
    text: 'CH62 0483 0123 4567 8900 – Rückzahlung bitte in CHF',
    pii: [['IBAN', 'CH62 0483 0123 4567 8900']],
  },
  {
    text: 'refund to my UK account pls GB29 NWBK 6016 1331 9268 19',
    pii: [['IBAN', 'GB29 NWBK 6016 1331 9268 19']],
  },
  {
    text: 'Rücksendung ist unterwegs, Geld bitte an BE68539007547034 (belgisches Konto)',
    pii: [['IBAN', 'BE68539007547034']],
  },

  // ---------------------------------------------------------------- CARD
  {
    text: 'can i just pay by card? 4917 6123 4567 8904 exp 08/27',
    pii: [['CARD', '4917 6123 4567 8904']],
  },
  {
    text: 'Kreditkarte: 5353-1098-7654-3217',
    pii: [['CARD', '5353-1098-7654-3217']],
  },
  {
    text: 'card number 4133456789123458 name on card Tom Becker',
    pii: [['CARD', '4133456789123458']],
  },
  {
    text: 'amex 3714 496353 98431',
    pii: [['CARD', '3714 496353 98431']],
  },
  {
    text: '2221 0044 9876 5438 is my mastercard, the 49.99 didnt go through',
    pii: [['CARD', '2221 0044 9876 5438']],
    keep: ['49.99'],
  },
  {
    text: 'ok here it is 4556737582012032',
    pii: [['CARD', '4556737582012032']],
  },
  {
    text: 'Visa 4987 6543 2101 2349, gültig bis 11/28',
    pii: [['CARD', '4987 6543 2101 2349']],
  },
  {
    text: 'maestro 6761 6543 2109 8766 geht das bei euch?',
    pii: [['CARD', '6761 6543 2109 8766']],
  },

  // ---------------------------------------------------------------- HANDLE
  {
    text: 'my friend @julia.k_92 recommended you!! 😍',
    pii: [['HANDLE', '@julia.k_92']],
  },
  {
    text: '@max_mustermann hier, hab gestern bestellt (#48213)',
    pii: [['HANDLE', '@max_mustermann']],
    keep: ['#48213'],
  },
  {
    text: 'can you tag me in the story? @the.linen.lover',
    pii: [['HANDLE', '@the.linen.lover']],
  },
  {
    text: '(@sophie_home) she wants the same cushion in 45x45',
    pii: [['HANDLE', '@sophie_home']],
    keep: ['45x45'],
  },
  {
    text: '@AnnaBerlin_ ist meine Schwester, sie hat auch bestellt',
    pii: [['HANDLE', '@AnnaBerlin_']],
  },
  {
    text: 'sígueme en @carla.moda.bcn y te etiqueto con el vestido',
    pii: [['HANDLE', '@carla.moda.bcn']],
  },
  {
    text: 'thx @mila_designs!',
    pii: [['HANDLE', '@mila_designs']],
  },
  {
    text: 'gift for my sister, can you send her a DM? she is @lena.styles.',
    pii: [['HANDLE', '@lena.styles']],
  },
  {
    text: 'photo credit: @jan.photo & @studio.vik 📸',
    pii: [
      ['HANDLE', '@jan.photo'],
      ['HANDLE', '@studio.vik'],
    ],
  },

  // ---------------------------------------------------------------- URL
  {
    text: 'check my profile https://www.instagram.com/lena.styles/ for the pic of the stain',
    pii: [['URL', 'https://www.instagram.com/lena.styles/']],
  },
  {
    text: "here's my tiktok: https://www.tiktok.com/@mia.wears/video/7312345678901234567",
    pii: [['URL', 'https://www.tiktok.com/@mia.wears/video/7312345678901234567']],
  },
  {
    text: 'Tracking link: https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161234567890 says delivered but nothing here',
    pii: [
      [
        'URL',
        'https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161234567890',
      ],
    ],
  },
  {
    text: 'www.annas-vintage-finds.de – das ist mein Shop, Kooperation?',
    pii: [['URL', 'www.annas-vintage-finds.de']],
  },
  {
    text: 'paypal.me/katrinlange hier kannst du mir die 12,50 zurückschicken',
    pii: [['URL', 'paypal.me/katrinlange']],
    keep: ['12,50'],
  },
  {
    text: 'alle meine links: linktr.ee/nina.makes',
    pii: [['URL', 'linktr.ee/nina.makes']],
  },
  {
    text: 'foto hier: https://imgur.com/a/Xy7kP2q sieht das normal aus?',
    pii: [['URL', 'https://imgur.com/a/Xy7kP2q']],
  },
  {
    text: 'https://bit.ly/3kLmN9p <- my wishlist',
    pii: [['URL', 'https://bit.ly/3kLmN9p']],
  },
  {
    text: 'UPS link https://www.ups.com/track?tracknum=1Z999AA10123456784 shows exception??',
    pii: [['URL', 'https://www.ups.com/track?tracknum=1Z999AA10123456784']],
  },
  {
    text: 'Facebook: facebook.com/marie.dubois.75',
    pii: [['URL', 'facebook.com/marie.dubois.75']],
  },
  {
    text: 'mein outfit post: http://meinblog.wordpress.com/2026/03/outfit-mit-eurem-schal',
    pii: [['URL', 'http://meinblog.wordpress.com/2026/03/outfit-mit-eurem-schal']],
  },
  {
    text: 'mein Profil (www.instagram.com/tomek.design) – Kooperation für eure Vasen?',
    pii: [['URL', 'www.instagram.com/tomek.design']],
  },
  {
    text: 'oder schreib mir auf wa.me/491701234567',
    pii: [['URL', 'wa.me/491701234567']],
  },
  {
    text: 'instagram.com/elif.home is my old account, please send the giveaway there',
    pii: [['URL', 'instagram.com/elif.home']],
  },

  // ---------------------------------------------------------------- mixed
  {
    text: 'Name: Lisa Hoffmann, Tel. 030 12345678, Mail lisa.hoffmann@web.de, Instagram @lisa.hoff',
    pii: [
      ['PHONE', '030 12345678'],
      ['EMAIL', 'lisa.hoffmann@web.de'],
      ['HANDLE', '@lisa.hoff'],
    ],
  },
  {
    text: 'Bestellung #51077: falsche Größe (M statt S). Bitte melden unter 0160 9988771 oder tim.wagner@gmx.net',
    pii: [
      ['PHONE', '0160 9988771'],
      ['EMAIL', 'tim.wagner@gmx.net'],
    ],
    keep: ['#51077'],
  },
  {
    text: 'statt Karte (5178 0501 2345 6782) lieber per Überweisung? meine IBAN DE29 1001 0010 0987 6543 21',
    pii: [
      ['CARD', '5178 0501 2345 6782'],
      ['IBAN', 'DE29 1001 0010 0987 6543 21'],
    ],
  },
  {
    text: 'die bilder sind von @fotografin.lea, portfolio unter lea-fotografie.de',
    pii: [
      ['HANDLE', '@fotografin.lea'],
      ['URL', 'lea-fotografie.de'],
    ],
  },
  {
    text: '📧 hanna.fischer@gmx.at 📞 +43 699 11223344',
    pii: [
      ['EMAIL', 'hanna.fischer@gmx.at'],
      ['PHONE', '+43 699 11223344'],
    ],
  },
  {
    text: 'email:leonie.b@web.de,nummer:01761234567',
    pii: [
      ['EMAIL', 'leonie.b@web.de'],
      ['PHONE', '01761234567'],
    ],
  },
  {
    text: 'mail me op sanne.jansen@gmail.com of bel 0612345678, bestelling 100298812',
    pii: [
      ['EMAIL', 'sanne.jansen@gmail.com'],
      ['PHONE', '0612345678'],
    ],
    keep: ['100298812'],
  },
  {
    text: 'sono @giulia.veste, whatsapp +39 347 555 1234 per la consegna del 14/03',
    pii: [
      ['HANDLE', '@giulia.veste'],
      ['PHONE', '+39 347 555 1234'],
    ],
    keep: ['14/03'],
  },
  {
    text: 'hey!! so i ordered the Linnea dress in size S (order #49120, €89.00) but it is way too big, can i exchange for XS?? my email is jess.morgan@gmail.com and my number +44 7911 123456 if easier xx',
    pii: [
      ['EMAIL', 'jess.morgan@gmail.com'],
      ['PHONE', '+44 7911 123456'],
    ],
    keep: ['size S', '#49120', '€89.00', 'XS'],
  },
  {
    text: 'Rückerstattung für Bestellung 100234999 (2x Kissenbezug 40x40, 58,00 €) bitte an DE75 1203 0000 1020 3040 50, bei Fragen 0171 2345678',
    pii: [
      ['IBAN', 'DE75 1203 0000 1020 3040 50'],
      ['PHONE', '0171 2345678'],
    ],
    keep: ['100234999', '40x40', '58,00 €'],
  },
  {
    text: 'my insta is @rosie.knits and my shop is www.rosieknits.co.uk, would love to collab on the 2026 winter line',
    pii: [
      ['HANDLE', '@rosie.knits'],
      ['URL', 'www.rosieknits.co.uk'],
    ],
    keep: ['2026'],
  },
  {
    text: 'Lieferadresse ist 50667 Köln, Packstation, bitte Benachrichtigung an felix.r@gmx.de und SMS an 0151 98765432',
    pii: [
      ['EMAIL', 'felix.r@gmx.de'],
      ['PHONE', '0151 98765432'],
    ],
    keep: ['50667'],
  },
  {
    text: 'DHL sagt 00340434161234567890 zugestellt, war aber niemand da. Bitte ruf an: 0163 4455667',
    pii: [['PHONE', '0163 4455667']],
    keep: ['00340434161234567890'],
  },
  {
    text: 'pagué con la tarjeta 4539 1488 0343 6467 y me cobraron dos veces 45,00 €',
    pii: [['CARD', '4539 1488 0343 6467']],
    keep: ['45,00 €'],
  },
  {
    text: 'Je suis @claire.chez.soi et mon mail c’est claire.petit@orange.fr',
    pii: [
      ['HANDLE', '@claire.chez.soi'],
      ['EMAIL', 'claire.petit@orange.fr'],
    ],
  },

  // ---------------------------------------------------------------- no PII, tricky look-alikes
  {
    text: 'Hi, I ordered the linen shirt size M on 12.03.2026, order #48213, still not here 😕',
    pii: [],
    keep: ['size M', '12.03.2026', '#48213'],
  },
  {
    text: 'Bestellnummer 100234567 – wann wird die verschickt?',
    pii: [],
    keep: ['100234567'],
  },
  {
    text: 'DHL says 00340434161234567890 but tracking hasnt updated since 2026-03-12',
    pii: [],
    keep: ['00340434161234567890', '2026-03-12'],
  },
  {
    text: 'Sendungsnummer 340434161234, laut DHL zugestellt, aber nix da',
    pii: [],
    keep: ['340434161234'],
  },
  {
    text: 'UPS 1Z999AA10123456784 stuck in Köln since Monday',
    pii: [],
    keep: ['1Z999AA10123456784'],
  },
  {
    text: 'is the SKU LN-2041-BLU still available in EU 38?',
    pii: [],
    keep: ['LN-2041-BLU', 'EU 38'],
  },
  {
    text: 'Preis war 49,90 EUR jetzt 39,92 mit 20% rabatt??',
    pii: [],
    keep: ['49,90 EUR', '39,92', '20%'],
  },
  {
    text: 'do you ship to 10115 Berlin? and how long, 2-3 days?',
    pii: [],
    keep: ['10115', '2-3'],
  },
  {
    text: 'Öffnungszeiten Laden? Sa 10–16?',
    pii: [],
    keep: ['10–16'],
  },
  {
    text: 'Jeans 32/34 oder 31/32 – welche passt bei 1,78 m?',
    pii: [],
    keep: ['32/34', '31/32', '1,78 m'],
  },
  {
    text: 'Bettwäsche 155x220 oder 135x200, wieviel kostet die 155x220? 89 € ?',
    pii: [],
    keep: ['155x220', '135x200', '89 €'],
  },
  {
    text: "I'll be at the pop-up @ 5pm, can I pick up the 2 cushions then?",
    pii: [],
    keep: ['@ 5pm'],
  },
  {
    text: 'app shows error on iOS 17.4.1 when I try to checkout, version 3.12.0',
    pii: [],
    keep: ['17.4.1', '3.12.0'],
  },
  {
    text: '2 @ €15 each = €30 right?',
    pii: [],
    keep: ['2 @ €15', '€30'],
  },
  {
    text: 'EAN 4260123456788 steht auf dem Etikett, ist das die gleiche Vase?',
    pii: [],
    keep: ['4260123456788'],
  },
  {
    text: 'my card 4539 1488 0343 6468 got declined twice, is your payment down?',
    pii: [],
    keep: ['4539 1488 0343 6468'],
  },
  {
    text: 'Ist die Lieferung bis zum 24.12. möglich? brauche es als Geschenk 🎁',
    pii: [],
    keep: ['24.12.'],
  },
  {
    text: 'Rechnung RE-2026-0412 stimmt nicht, da stehen 3 Stück statt 2',
    pii: [],
    keep: ['RE-2026-0412', '3 Stück'],
  },
  {
    text: 'Gutscheincode LOOP15 geht nicht, sagt abgelaufen seit 01.01.2026',
    pii: [],
    keep: ['LOOP15', '01.01.2026'],
  },
  {
    text: 'you opened in 2019 right? love your stuff since 2020',
    pii: [],
    keep: ['2019', '2020'],
  },
  {
    text: 'le colis 6A12345678901 est bloqué depuis le 3 mars',
    pii: [],
    keep: ['6A12345678901'],
  },
  {
    text: '¿Tenéis la talla 40 en negro? el pedido 100245890 llegó en 38',
    pii: [],
    keep: ['talla 40', '100245890', '38'],
  },
  {
    text: 'la consegna è prevista tra 10:30 e 12:00?',
    pii: [],
    keep: ['10:30', '12:00'],
  },
  {
    text: 'bestelling 100298877 is nog niet binnen, postcode 1012 AB',
    pii: [],
    keep: ['100298877', '1012 AB'],
  },
  {
    text: 'the dress was $120 on the US site and €129,00 here, why?',
    pii: [],
    keep: ['$120', '€129,00'],
  },
  {
    text: 'Mo–Fr 9:30–18:00 erreichbar?',
    pii: [],
    keep: ['9:30–18:00'],
  },
  {
    text: 'order 100234567 and 100234568 – can you combine shipping?',
    pii: [],
    keep: ['100234567', '100234568'],
  },
  {
    text: 'Hermes Sendung H1002345678901234567 liegt im Paketshop',
    pii: [],
    keep: ['H1002345678901234567'],
  },
  {
    text: 'GLS 12345678901 status: zugestellt 14:32',
    pii: [],
    keep: ['12345678901', '14:32'],
  },
  {
    text: 'Kissenbezug 45 x 45 cm, Farbe Salbei, Art.-Nr. 20417-SG',
    pii: [],
    keep: ['45 x 45 cm', '20417-SG'],
  },
  {
    text: '1.299,00 € für das Sofa inkl. Lieferung?',
    pii: [],
    keep: ['1.299,00 €'],
  },
  {
    text: "I'm 5'6 and usually a UK 10 / EU 38, what size in the Linnea dress?",
    pii: [],
    keep: ['UK 10', 'EU 38', 'Linnea'],
  },
  {
    text: 'retour label code 7391 8462 0055 ist abgelaufen, neues bitte',
    pii: [],
    keep: ['7391 8462 0055'],
  },
  {
    text: 'geht auch packstation 123 in 80331 München?',
    pii: [],
    keep: ['packstation 123', '80331'],
  },
  {
    text: 'Ich bin Größe 36/38, Oberweite 88 cm',
    pii: [],
    keep: ['36/38', '88 cm'],
  },
  {
    text: 'the 3-pack socks (size 39-42) x2 please',
    pii: [],
    keep: ['39-42', 'x2'],
  },
  {
    text: 'Was kostet Versand nach AT? 4,90 oder 6,90?',
    pii: [],
    keep: ['4,90', '6,90'],
  },
  {
    text: '20 % off code SPRING20 works on sale items too?',
    pii: [],
    keep: ['20 %', 'SPRING20'],
  },
  {
    text: 'LOOP Studio is my fav shop, greetings from 1010 Wien!',
    pii: [],
    keep: ['LOOP Studio', '1010 Wien'],
  },
  {
    text: 'batch 2024-11-B7 of the candles smells different',
    pii: [],
    keep: ['2024-11-B7'],
  },
  {
    text: 'I paid with card ending 4242, can you check?',
    pii: [],
    keep: ['4242'],
  },
  {
    text: 'Lieferzeit 3–5 Werktage? heute ist der 2026-03-12, brauche es bis 15.3.',
    pii: [],
    keep: ['3–5', '2026-03-12', '15.3.'],
  },
  {
    text: 'ordered at 23:59 on black friday, got charged 2x €64.80',
    pii: [],
    keep: ['23:59', '2x €64.80'],
  },
  {
    text: 'vase 30cm hoch, Ø 12cm, 1,2 kg – passt das ins regal?',
    pii: [],
    keep: ['30cm', '12cm', '1,2 kg'],
  },
  {
    text: 'mon colis n° 8R41234567890 commande #50219',
    pii: [],
    keep: ['8R41234567890', '#50219'],
  },
  {
    text: 'order #48213 + #48214, total 158.00',
    pii: [],
    keep: ['#48213', '#48214', '158.00'],
  },
  {
    text: 'meet you @ the market on sat? stand 14?',
    pii: [],
    keep: ['@ the market', 'stand 14'],
  },
  {
    text: 'Konto wurde mit -49,99 € belastet, Referenz 2026031200451',
    pii: [],
    keep: ['-49,99 €', '2026031200451'],
  },
  {
    text: 'ich hab überwiesen an DE89 3704 0044 0532 0130 01 – stimmt die so?',
    pii: [],
    keep: ['DE89 3704 0044 0532 0130 01'],
  },
  {
    text: 'Artikel 3.2 der AGB sagt 14 Tage Widerruf',
    pii: [],
    keep: ['3.2', '14 Tage'],
  },
  {
    text: 'versand 0,00 ab 75€?',
    pii: [],
    keep: ['0,00', '75€'],
  },
  {
    text: 'size S/M or M/L for 165 cm?',
    pii: [],
    keep: ['S/M', 'M/L', '165 cm'],
  },
  {
    text: 'pls reserve 2 of SKU HM-0193-OAT until 18:00 🙏',
    pii: [],
    keep: ['HM-0193-OAT', '18:00'],
  },
  {
    text: 'ticket 2026-0042 im support, keine antwort seit 48h',
    pii: [],
    keep: ['2026-0042', '48h'],
  },
  {
    text: 'envío gratis a partir de 60 €? vivo en 28013 Madrid',
    pii: [],
    keep: ['60 €', '28013'],
  },
  {
    text: 'ho pagato 45,00 € il 02/03/2026 ordine n. 100251234',
    pii: [],
    keep: ['45,00 €', '02/03/2026', '100251234'],
  },
  {
    text: "tracking JJD014600003828492341 shows 'Zustellung 10-14 Uhr'",
    pii: [],
    keep: ['JJD014600003828492341', '10-14 Uhr'],
  },
  {
    text: 'my instagram is private so i cant send the pic here sorry, its the beige one',
    pii: [],
  },
  {
    text: 'Tischdecke 140 x 240 cm in Leinen natur, Bestellung vom 03.03.26 – Lieferung 1-2 Wochen?',
    pii: [],
    keep: ['140 x 240 cm', '03.03.26', '1-2'],
  },
  {
    text: 'hab 2 bestellungen: 100234561, 100234562. bitte zusammen schicken, spart 4,95 versand',
    pii: [],
    keep: ['100234561', '100234562', '4,95'],
  },
  {
    text: 'can I pay in 3 installments of 33.33? klarna says error 0x80070057',
    pii: [],
    keep: ['33.33', '0x80070057'],
  },
  {
    text: 'quanto costa la spedizione per 20121 Milano? 2 cuscini 50x50',
    pii: [],
    keep: ['20121', '50x50'],
  },
  {
    text: 'Paket 3 von 4 fehlt noch (Sendung 0034 0434 1612 3456 7890)',
    pii: [],
    keep: ['0034 0434 1612 3456 7890'],
  },
  {
    text: 'Größentabelle sagt 92-96 cm Hüfte für 40, ich hab 95',
    pii: [],
    keep: ['92-96 cm', '95'],
  },
  {
    text: 'de retourcode is 2937 4410 8856 21, klopt dat?',
    pii: [],
    keep: ['2937 4410 8856 21'],
  },
  {
    text: 'kann man bei euch mit @-zeichen im namen bestellen? mein paypal spinnt',
    pii: [],
    keep: ['@-zeichen'],
  },
  {
    text: 'restock of the Sommerbrise scarf on 1.4.? I was #3 on the waitlist lol',
    pii: [],
    keep: ['Sommerbrise', '1.4.', '#3'],
  },
]
