"""The README of an export, in the customer's language (the six of ``languages.py``)."""

from __future__ import annotations

from string import Template

_README: dict[str, str] = {
    "en": """\
Your data held by $company, for $address, as of $date.

tickets/     one file per conversation (ticket), in JSON: its messages to and from
             you and its history (events).  Other people's addresses are replaced
             by "$redacted".
mail/        every mail you sent us and we sent you, as it was stored (.eml files);
mail.mbox    the same mails in one mailbox file, for any mail program.
attachments/ the files attached to those mails.

$tickets conversation(s), $mails mail(s), $files file(s).
""",
    "fr": """\
Vos données conservées par $company, pour $address, au $date.

tickets/     un fichier par conversation (ticket), en JSON : ses messages de vous et
             pour vous, et son historique (événements).  Les adresses d'autres
             personnes sont remplacées par « $redacted ».
mail/        chaque courriel que vous nous avez envoyé et que nous vous avons envoyé,
             tel qu'il a été conservé (fichiers .eml) ;
mail.mbox    les mêmes courriels dans un seul fichier, pour tout logiciel de messagerie.
attachments/ les fichiers joints à ces courriels.

$tickets conversation(s), $mails courriel(s), $files fichier(s).
""",
    "sv": """\
Dina uppgifter hos $company, för $address, per $date.

tickets/     en fil per ärende, i JSON: dess meddelanden från och till dig och dess
             historik (händelser).  Andra personers adresser är ersatta med
             "$redacted".
mail/        varje e-postmeddelande du skickat oss och vi skickat dig, så som det
             sparades (.eml-filer);
mail.mbox    samma meddelanden i en enda fil, för alla e-postprogram.
attachments/ filerna som bifogades dessa meddelanden.

$tickets ärende(n), $mails meddelande(n), $files fil(er).
""",
    "es": """\
Sus datos en poder de $company, para $address, a fecha de $date.

tickets/     un archivo por conversación (ticket), en JSON: sus mensajes de usted y
             para usted y su historial (eventos).  Las direcciones de otras personas
             se sustituyen por «$redacted».
mail/        cada correo que nos envió y que le enviamos, tal como se guardó
             (archivos .eml);
mail.mbox    los mismos correos en un solo archivo, para cualquier programa de correo.
attachments/ los archivos adjuntos a esos correos.

$tickets conversación(es), $mails correo(s), $files archivo(s).
""",
    "de": """\
Ihre bei $company gespeicherten Daten, für $address, Stand $date.

tickets/     eine Datei je Vorgang (Ticket), in JSON: die Nachrichten von Ihnen und
             an Sie und der Verlauf (Ereignisse).  Adressen anderer Personen sind
             durch „$redacted“ ersetzt.
mail/        jede E-Mail, die Sie uns und wir Ihnen geschickt haben, so wie sie
             gespeichert wurde (.eml-Dateien);
mail.mbox    dieselben E-Mails in einer Datei, für jedes E-Mail-Programm.
attachments/ die Dateien, die diesen E-Mails angehängt waren.

$tickets Vorgang/Vorgänge, $mails E-Mail(s), $files Datei(en).
""",
    "bg": """\
Вашите данни, съхранявани от $company, за $address, към $date.

tickets/     по един файл за всеки разговор (билет), в JSON: съобщенията от вас и
             до вас и историята му (събития).  Адресите на други хора са заменени
             с „$redacted“.
mail/        всяко писмо, което сте ни изпратили и което сме ви изпратили, както е
             съхранено (файлове .eml);
mail.mbox    същите писма в един файл, за всяка пощенска програма.
attachments/ файловете, приложени към тези писма.

$tickets разговор(а), $mails писмо(а), $files файл(а).
""",
}

LANGUAGES = tuple(_README)


def readme(language: str | None, **values: object) -> str:
    """The README text in ``language``, English when there is none for it."""
    text = _README.get((language or "en").split("-")[0].lower(), _README["en"])
    return Template(text).substitute({k: str(v) for k, v in values.items()})
