"""A seeded, realistic helpdesk mail corpus, generated as raw bytes (no files shipped).

``generate(n, seed=..., domain=...)`` returns ``n`` raw mails addressed to
``support@<domain>`` (a few also to ``sales@<domain>``), the same bytes for the same
arguments.  The mix is what a helpdesk mailbox sees:

- customers writing in English, French, Swedish, Spanish and Bulgarian, with
  subjects as RFC 2047 encoded-words and bodies in UTF-8, ISO-8859-1 or
  windows-1251, sent 8bit, quoted-printable or base64;
- plain text, multipart/alternative (text + HTML, or HTML only) and multipart/mixed
  with PDF, PNG or CSV attachments;
- replies (about a quarter of customer mail) with ``In-Reply-To``/``References``
  naming the customer's earlier mail, a localised reply prefix (Re, RE, SV, RV,
  Отг) and the quoted earlier text under a localised attribution line;
- about 5 % machine mail: out-of-office auto-replies (``Auto-Submitted``),
  delivery-status bounces from MAILER-DAEMON naming an earlier mail, and list
  mail (``List-Id``, ``Precedence: list``).

Bytes are built by hand (no ``email`` package round trip) so 100,000 mails take
seconds, not minutes.
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["LANGUAGES", "CorpusStats", "generate", "iter_corpus", "stats"]

LANGUAGES = ("en", "fr", "sv", "es", "bg")

_SUBJECTS = {
    "en": ["Printer on fire", "Invoice {n} is wrong", "Cannot log in since yesterday",
           "Where is my order {n}?", "Refund for order {n}", "Password reset link expired",
           "App crashes when I upload a photo", "Question about the annual plan"],
    "fr": ["Facture {n} erronée", "Impossible de me connecter depuis hier",
           "Où est ma commande {n} ?", "Remboursement de la commande {n}",
           "Le lien de réinitialisation a expiré", "L'application plante à l'envoi d'une photo",
           "Question sur l'abonnement annuel", "Problème de livraison à Besançon"],
    "sv": ["Faktura {n} är fel", "Kan inte logga in sedan i går", "Var är min beställning {n}?",
           "Återbetalning för order {n}", "Länken för nytt lösenord har gått ut",
           "Appen kraschar när jag laddar upp ett foto", "Fråga om årsabonnemanget",
           "Leveransen till Göteborg är försenad"],
    "es": ["La factura {n} es incorrecta", "No puedo iniciar sesión desde ayer",
           "¿Dónde está mi pedido {n}?", "Reembolso del pedido {n}",
           "El enlace para restablecer la contraseña caducó",
           "La aplicación se cierra al subir una foto", "Pregunta sobre el plan anual",
           "Envío retrasado a Logroño"],
    "bg": ["Фактура {n} е грешна", "Не мога да вляза от вчера", "Къде е поръчка {n}?",
           "Възстановяване на сума за поръчка {n}", "Връзката за нова парола е изтекла",
           "Приложението спира при качване на снимка", "Въпрос за годишния абонамент",
           "Закъсняла доставка до Пловдив"],
}

_SENTENCES = {
    "en": ["I have been a customer for three years and this never happened before.",
           "The error message says that my session is no longer valid.",
           "I tried again this morning with another browser, same result.",
           "Could you please check what went wrong and tell me when it will be fixed?",
           "The amount on the invoice does not match the price on your website.",
           "My colleague has the same problem on her laptop.",
           "I attach a screenshot so you can see what I mean."],
    "fr": ["Je suis cliente depuis trois ans et cela n'était jamais arrivé.",
           "Le message d'erreur indique que ma session n'est plus valide.",
           "J'ai réessayé ce matin avec un autre navigateur, même résultat.",
           "Pourriez-vous vérifier ce qui s'est passé et me dire quand ce sera réglé ?",
           "Le montant de la facture ne correspond pas au prix affiché sur votre site.",
           "Ma collègue a le même problème sur son ordinateur portable.",
           "Je joins une capture d'écran pour que vous voyiez de quoi il s'agit."],
    "sv": ["Jag har varit kund i tre år och detta har aldrig hänt förut.",
           "Felmeddelandet säger att min session inte längre är giltig.",
           "Jag försökte igen i morse med en annan webbläsare, samma resultat.",
           "Kan ni kontrollera vad som gick fel och säga när det blir åtgärdat?",
           "Beloppet på fakturan stämmer inte med priset på er webbplats.",
           "Min kollega har samma problem på sin bärbara dator.",
           "Jag bifogar en skärmbild så att ni ser vad jag menar."],
    "es": ["Soy cliente desde hace tres años y esto nunca había pasado.",
           "El mensaje de error dice que mi sesión ya no es válida.",
           "Lo intenté de nuevo esta mañana con otro navegador, el mismo resultado.",
           "¿Podrían revisar qué falló y decirme cuándo estará solucionado?",
           "El importe de la factura no coincide con el precio de su página web.",
           "Mi compañera tiene el mismo problema en su portátil.",
           "Adjunto una captura de pantalla para que vean a qué me refiero."],
    "bg": ["Клиент съм от три години и това никога не се е случвало.",
           "Съобщението за грешка казва, че сесията ми вече не е валидна.",
           "Опитах отново тази сутрин с друг браузър, същият резултат.",
           "Бихте ли проверили какво се е объркало и кога ще бъде оправено?",
           "Сумата във фактурата не съвпада с цената на сайта ви.",
           "Колежката ми има същия проблем на лаптопа си.",
           "Прилагам снимка на екрана, за да видите какво имам предвид."],
}

_GREETING = {"en": "Hello,", "fr": "Bonjour,", "sv": "Hej,", "es": "Hola:",
             "bg": "Здравейте,"}
_CLOSING = {"en": "Best regards,", "fr": "Cordialement,", "sv": "Med vänliga hälsningar,",
            "es": "Saludos cordiales,", "bg": "Поздрави,"}
_PREFIX = {"en": ["Re: ", "RE: "], "fr": ["Re: ", "RE : "], "sv": ["SV: ", "Sv: "],
           "es": ["RE: ", "RV: "], "bg": ["Отг: ", "Re: "]}
_WROTE = {"en": "On {date}, {name} wrote:", "fr": "Le {date}, {name} a écrit :",
          "sv": "{date} skrev {name}:", "es": "El {date}, {name} escribió:",
          "bg": "На {date} {name} написа:"}
_FOLLOW = {"en": "Any news on this? It is still not working.",
           "fr": "Avez-vous du nouveau ? Cela ne fonctionne toujours pas.",
           "sv": "Något nytt om detta? Det fungerar fortfarande inte.",
           "es": "¿Alguna novedad? Sigue sin funcionar.",
           "bg": "Има ли новини? Все още не работи."}
_NAMES = {
    "en": ["Jane Miller", "John O'Neill", "Priya Shah", "Tom Baker", "Emily Clarke"],
    "fr": ["Élodie Lefèvre", "François Dupré", "Chloé Mercier", "Jérôme Gaillard"],
    "sv": ["Åsa Lindqvist", "Björn Öberg", "Märta Sjöström", "Lars Ekström"],
    "es": ["María José Núñez", "Iñigo Peña", "Lucía Gómez", "Andrés Muñoz"],
    "bg": ["Мария Иванова", "Георги Петров", "Десислава Колева", "Стефан Димитров"],
}
_LEGACY = {"fr": "iso-8859-1", "sv": "iso-8859-1", "es": "iso-8859-1", "bg": "windows-1251"}
_AWAY = {"en": "Out of office", "fr": "Absence du bureau", "sv": "Frånvaromeddelande",
         "es": "Fuera de la oficina", "bg": "Извън офиса"}


def _attachments(rng: random.Random) -> list[tuple[str, str, bytes]]:
    """A small pool reused across the corpus: realistic sizes without minutes of base64."""
    pdf = b"%PDF-1.4\n" + rng.randbytes(30_000) + b"\n%%EOF\n"
    png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(60_000)
    csv = "\n".join(f"{i};article {i};{rng.randint(1, 999)},{rng.randint(0, 99):02d} €"
                    for i in range(400)).encode()
    small_png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(6_000)
    return [("invoice.pdf", "application/pdf", pdf),
            ("screenshot.png", "image/png", png),
            ("export.csv", "text/csv", csv),
            ("photo.png", "image/png", small_png)]


def _b64_lines(data: bytes) -> str:
    return "\n".join(base64.b64encode(data[i:i + 57]).decode() for i in range(0, len(data), 57))


def _encoded_word(text: str, rng: random.Random) -> str:
    if text.isascii():
        return text
    data = text.encode()
    if rng.random() < 0.5:
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    q = "".join("_" if b == 32 else chr(b) if chr(b).isalnum() and b < 128 else f"={b:02X}"
                for b in data)
    return f"=?utf-8?q?{q}?="


def _address(name: str, addr: str, rng: random.Random) -> str:
    if name.isascii():
        return f'"{name}" <{addr}>' if "'" in name else f"{name} <{addr}>"
    return f"{_encoded_word(name, rng)} <{addr}>"


def _text_part(text: str, lang: str, rng: random.Random) -> bytes:
    """A text/plain entity (headers + body) in a charset and transfer encoding drawn at random."""
    charset = "utf-8"
    if lang in _LEGACY and rng.random() < 0.3:
        charset = _LEGACY[lang]
    data = text.encode(charset)
    roll = rng.random()
    if data.isascii() and roll < 0.5:
        cte, body = "7bit", data
    elif roll < 0.55:
        cte, body = "base64", _b64_lines(data).encode()
    elif roll < 0.8:
        cte, body = "quoted-printable", quopri.encodestring(data)
    else:
        cte, body = "8bit", data
    head = (f"Content-Type: text/plain; charset={charset}\n"
            f"Content-Transfer-Encoding: {cte}\n\n")
    return head.encode() + body


def _html(text: str) -> str:
    paras = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
    return (f'<html><head><meta charset="utf-8"></head><body style="font-family:Arial">'
            f"{paras}<div class=\"signature\">--<br>Sent from my phone</div></body></html>")


@dataclass
class _Thread:
    message_id: str
    references: list[str]
    subject: str
    lang: str
    name: str
    addr: str
    text: str
    date: datetime


@dataclass
class CorpusStats:
    total: int = 0
    customer: int = 0
    replies: int = 0
    multipart: int = 0
    attachments: int = 0
    auto_replies: int = 0
    bounces: int = 0
    lists: int = 0
    by_language: dict[str, int] | None = None
    bytes: int = 0


def _finish(headers: list[str], body: bytes) -> bytes:
    if not body.endswith(b"\n"):
        body += b"\n"
    return "\n".join(headers).encode() + b"\n\n" + body


def iter_corpus(n: int, *, seed: int = 1, domain: str = "bench.example",
                start: datetime | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield ``(kind, raw)`` for ``n`` mails; kind is customer, reply, auto_reply, bounce
    or list."""
    rng = random.Random(seed)
    pool = _attachments(random.Random(seed + 1))
    support, sales = f"support@{domain}", f"sales@{domain}"
    when = start or datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    threads: list[_Thread] = []
    customers = max(50, n // 3)
    for i in range(n):
        when += timedelta(seconds=rng.randint(1, 20))
        date = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
        mid = f"<{seed}.{i}.{rng.getrandbits(48):012x}@mail.{domain}>"
        roll = rng.random()
        if roll < 0.02:
            yield "auto_reply", _auto_reply(rng, mid, date, support, threads, domain)
            continue
        if roll < 0.035 and threads:
            yield "bounce", _bounce(rng, mid, date, support, threads, domain)
            continue
        if roll < 0.05:
            yield "list", _list_mail(rng, mid, date, support, domain, i)
            continue
        reply_to = rng.choice(threads[-300:]) if threads and rng.random() < 0.25 else None
        if reply_to is not None:
            lang, name, addr = reply_to.lang, reply_to.name, reply_to.addr
            prefix = rng.choice(_PREFIX[lang])
            subject = prefix + reply_to.subject
            refs = [*reply_to.references, reply_to.message_id][-10:]
            quoted = "\n".join("> " + line for line in reply_to.text.split("\n"))
            wrote = _WROTE[lang].format(date=reply_to.date.strftime("%d/%m/%Y %H:%M"),
                                        name=name)
            text = f"{_FOLLOW[lang]}\n\n{_CLOSING[lang]}\n{name}\n\n{wrote}\n{quoted}\n"
            base_subject = reply_to.subject
        else:
            lang = rng.choices(LANGUAGES, weights=(40, 20, 15, 15, 10))[0]
            name = rng.choice(_NAMES[lang])
            local = f"c{rng.randrange(customers)}"
            addr = f"{local}@customer-{rng.randrange(40)}.example"
            base_subject = rng.choice(_SUBJECTS[lang]).format(n=rng.randint(10000, 99999))
            subject = base_subject
            refs = []
            body = " ".join(rng.sample(_SENTENCES[lang], rng.randint(2, 5)))
            text = f"{_GREETING[lang]}\n\n{body}\n\n{_CLOSING[lang]}\n{name}\n"
        headers = [
            f"Return-Path: <{addr}>",
            f"Received: from mx.customer.example (mx.customer.example [192.0.2.{i % 250 + 1}])"
            f"\n\tby mx.{domain} with ESMTPS id {rng.getrandbits(40):010x}\n\tfor <{support}>;"
            f" {date}",
            f"From: {_address(name, addr, rng)}",
            f"To: {support}" + (f", {sales}" if rng.random() < 0.03 else ""),
            f"Subject: {_encoded_word(subject, rng)}",
            f"Date: {date}",
            f"Message-ID: {mid}",
            "MIME-Version: 1.0",
        ]
        if rng.random() < 0.5:
            headers.append(f"Content-Language: {lang}")
        if refs:
            headers += [f"In-Reply-To: {refs[-1]}", "References: " + "\n ".join(refs)]
        if rng.random() < 0.3:
            headers.append(f"User-Agent: Mozilla/5.0 Thunderbird/115.{rng.randint(0, 9)}")
        shape = rng.random()
        boundary = f"=_b{rng.getrandbits(64):016x}"
        entity: bytes
        if shape < 0.6:
            entity = _text_part(text, lang, rng)
        elif shape < 0.82:
            html_only = rng.random() < 0.15
            parts = [] if html_only else [_text_part(text, lang, rng)]
            parts.append(("Content-Type: text/html; charset=utf-8\n"
                          "Content-Transfer-Encoding: base64\n\n"
                          + _b64_lines(_html(text).encode())).encode())
            entity = _multipart("alternative", boundary, parts)
        else:
            files = rng.sample(pool, rng.choice((1, 1, 1, 2)))
            parts = [_text_part(text, lang, rng)]
            for fname, ctype, data in files:
                parts.append((f"Content-Type: {ctype}; name=\"{fname}\"\n"
                              f"Content-Disposition: attachment; filename=\"{fname}\"\n"
                              "Content-Transfer-Encoding: base64\n\n"
                              + _b64_lines(data)).encode())
            entity = _multipart("mixed", boundary, parts)
        head, _, body_bytes = entity.partition(b"\n\n")
        headers += head.decode().split("\n")
        threads.append(_Thread(mid, refs, base_subject, lang, name, addr, text, when))
        yield ("reply" if reply_to else "customer"), _finish(headers, body_bytes)


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    inner = b"".join(b"--%s\n%s\n" % (boundary.encode(), p) for p in parts)
    return (f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'
            "This is a multi-part message in MIME format.\n\n").encode() + inner + \
        f"--{boundary}--\n".encode()


def _auto_reply(rng: random.Random, mid: str, date: str, support: str,
                threads: list[_Thread], domain: str) -> bytes:
    lang = rng.choice(LANGUAGES)
    name = rng.choice(_NAMES[lang])
    addr = f"away{rng.randrange(500)}@customer-{rng.randrange(40)}.example"
    about = rng.choice(threads[-200:]) if threads else None
    subject = f"{_AWAY[lang]}: " + (about.subject if about else "Re")
    text = {"en": "I am out of the office until Monday and have limited access to e-mail.",
            "fr": "Je suis absente jusqu'à lundi, avec un accès limité à mes e-mails.",
            "sv": "Jag är ledig till måndag och läser e-post sporadiskt.",
            "es": "Estoy fuera de la oficina hasta el lunes con acceso limitado al correo.",
            "bg": "Извън офиса съм до понеделник с ограничен достъп до пощата."}[lang]
    headers = [f"Return-Path: <{addr}>", f"From: {_address(name, addr, rng)}",
               f"To: {support}", f"Subject: {_encoded_word(subject, rng)}", f"Date: {date}",
               f"Message-ID: {mid}", "MIME-Version: 1.0", "Auto-Submitted: auto-replied",
               "X-Autoreply: yes"]
    if about:
        headers.append(f"In-Reply-To: {about.message_id}")
    headers += ["Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable"]
    return _finish(headers, quopri.encodestring(text.encode()))


def _bounce(rng: random.Random, mid: str, date: str, support: str, threads: list[_Thread],
            domain: str) -> bytes:
    about = rng.choice(threads[-200:])
    boundary = f"=_dsn{rng.getrandbits(48):012x}"
    failed = about.addr
    original = (f"From: {support}\nTo: {failed}\nSubject: Re: {about.subject}\n"
                f"Message-ID: {about.message_id}\nDate: {date}\n")
    body = (f"This is a MIME-encapsulated message.\n\n--{boundary}\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "This is the mail system at host mx.customer.example.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n\n"
            f"<{failed}>: host mx.customer.example said: 550 5.1.1 User unknown\n\n"
            f"--{boundary}\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; mx.customer.example\nArrival-Date: {date}\n\n"
            f"Final-Recipient: rfc822; {failed}\nOriginal-Recipient: rfc822;{failed}\n"
            "Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
            f"--{boundary}\nContent-Type: text/rfc822-headers\n\n{original}\n"
            f"--{boundary}--\n")
    headers = ["Return-Path: <>", "From: MAILER-DAEMON@mx.customer.example (Mail Delivery System)",
               f"To: {support}", "Subject: Undelivered Mail Returned to Sender",
               f"Date: {date}", f"Message-ID: {mid}", "Auto-Submitted: auto-replied",
               "MIME-Version: 1.0",
               f'Content-Type: multipart/report; report-type=delivery-status; '
               f'boundary="{boundary}"']
    return _finish(headers, body.encode())


def _list_mail(rng: random.Random, mid: str, date: str, support: str, domain: str,
               i: int) -> bytes:
    issue = rng.randint(1, 500)
    headers = ["Return-Path: <bounces+news=example.com@lists.vendor.example>",
               "From: Vendor News <news@lists.vendor.example>", f"To: {support}",
               f"Subject: Vendor newsletter #{issue}: what's new this month",
               f"Date: {date}", f"Message-ID: {mid}", "MIME-Version: 1.0",
               "List-Id: Vendor customers <customers.lists.vendor.example>",
               "List-Unsubscribe: <mailto:leave@lists.vendor.example>",
               "Precedence: list", "Content-Type: text/plain; charset=utf-8",
               "Content-Transfer-Encoding: 8bit"]
    text = (f"Issue {issue}.\n\nThis month: faster exports, a new dashboard and fixes.\n"
            "Read more on our website.\n\n-- \nYou receive this mail because you subscribed.\n")
    return _finish(headers, text.encode())


def generate(n: int, *, seed: int = 1, domain: str = "bench.example") -> list[bytes]:
    """``n`` raw mails (see the module docstring), deterministic for a given seed."""
    return [raw for _, raw in iter_corpus(n, seed=seed, domain=domain)]


def stats(n: int, *, seed: int = 1, domain: str = "bench.example") -> CorpusStats:
    """What ``generate`` would produce, counted: for the benchmark's header line."""
    st = CorpusStats(by_language={})
    for kind, raw in iter_corpus(n, seed=seed, domain=domain):
        st.total += 1
        st.bytes += len(raw)
        if kind in ("customer", "reply"):
            st.customer += 1
            st.replies += kind == "reply"
        else:
            st.auto_replies += kind == "auto_reply"
            st.bounces += kind == "bounce"
            st.lists += kind == "list"
        st.multipart += b"multipart/" in raw
        st.attachments += b"Content-Disposition: attachment" in raw
        lang = raw.split(b"Content-Language: ", 1)[1][:2].decode() \
            if b"Content-Language: " in raw else "?"
        assert st.by_language is not None
        st.by_language[lang] = st.by_language.get(lang, 0) + 1
    return st
