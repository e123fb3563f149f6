"""Words too common to tell one question from another, per language.

Short lists of function words (articles, pronouns, prepositions, conjunctions, common
auxiliaries) and the greetings and sign-offs every mail carries.  The packaged lists
(``stop-words``, ``stopwordsiso``) were tried and left out: they count "order",
"problem", "account", "help" (en), "mot" (fr, as in "mot de passe") and "cuenta" (es)
as stop words, which are the very words customers ask about.  Words are written
lower-case with their accents; the analyzer folds both sides the same way.
"""

from __future__ import annotations

_EN = """
a about above after again against all am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up
very was we were what when where which while who whom why will with would you your
yours yourself yourselves s t don didn doesn isn wasn can't i'm i've it's also
hello hi dear thanks thank regards best kind sincerely please
"""

_FR = """
au aux avec ce ces cet cette dans de des du elle elles en et eux il ils je la le les
leur leurs lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour qu
que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous c d j l m n s t y
à été être avoir ai as avons avez ont est sont suis es était étais sera serait ceci cela
ça celui celle ceux dont si très aussi donc alors plus moins comme
bonjour bonsoir merci cordialement salutations madame monsieur svp
"""

_SV = """
och att det som en ett på är av för med till den har de inte om var jag du han hon vi
ni dem oss er min mitt mina din ditt dina sin sitt sina vår vårt våra er ert era han
hans hennes dess deras från vid så men eller när där här vad vem vilken vilket vilka
kan ska skulle kunde har hade varit blir blev vara bli mig dig sig honom henne också
mycket nu då än utan under över efter inför mot hos
hej hejsan tack hälsningar vänliga mvh
"""

_ES = """
el la los las un una unos unas de del al a en y o u que qué es son ser fue era está
están estoy estaba he ha han hemos había por para con sin sobre entre hasta desde mi
mis tu tus su sus nuestro nuestra nuestros nuestras vuestro lo le les me te se nos os
yo tú él ella ellos ellas usted ustedes este esta estos estas ese esa esos esas eso
esto aquel aquella muy más menos ya no sí si pero como cuando donde porque también
hola buenos buenas días gracias saludos atentamente estimado estimada favor
"""

_DE = """
der die das den dem des ein eine einen einem einer eines und oder aber ist sind war
waren bin bist sein seid hat habe haben hatte hatten wird werden wurde wurden kann
können konnte muss müssen soll sollte will möchte ich du er sie es wir ihr mich dich
sich uns euch mir dir ihm ihn ihnen mein meine meinen meinem meiner dein deine sein
seine ihre ihren unser unsere euer zu zum zur von vom mit bei aus auf an am im in ins
für über unter nach vor durch gegen ohne um nicht kein keine keinen auch noch schon
nur sehr so wie wenn als dass ob da hier dort was wer wo warum
hallo guten tag danke grüße grüßen freundlichen liebe lieber sehr geehrte geehrter
"""

_BG = """
и в на с за от до по при към без че да не се си ще са е бе беше бяха съм сме сте си
аз ти той тя то ние вие те ме те го я ни ви ги ми ти му ѝ им мен теб него нея нас вас
тях мой моя мое мои твой твоя свой своя своите неговия нейния наш наша наши ваш ваша
ваши този тази това тези онзи онази онова как какво кой коя кое кои кога къде защо
но или ако като когато също много вече само още
здравейте здравей благодаря поздрави уважаеми уважаема моля
"""

STOP_WORDS: dict[str, frozenset[str]] = {
    code: frozenset(words.split())
    for code, words in (("en", _EN), ("fr", _FR), ("sv", _SV), ("es", _ES), ("de", _DE),
                        ("bg", _BG))
}
