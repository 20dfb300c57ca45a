"""Customer-service training examples for the sentiment head, written for churnml.

The UCI review sentences (see `uci.py`) teach POSITIVE and NEGATIVE but have no NEUTRAL
class and no phone-company messages. These templates add what a call centre sees:

- NEUTRAL: questions, requests and statements about billing, plans, how-to and account
  changes, plus plain factual sentences in the review domains (phones, restaurants), so
  that "talks about a phone or a bill" is not itself a sentiment;
- NEGATIVE: complaints, most of them WITHOUT emotional words ("I paid for 100 minutes and
  got only 90"), which a word lexicon cannot see, plus some angry ones;
- POSITIVE: plain praise and thanks.

Each base sentence is expanded with a few slot values and an optional greeting or sign-off
(sign-offs such as "Thanks." appear on complaints and questions too, so that courtesy is
not read as praise). Expansion is deterministic (`random.Random(seed)`), and every example
carries its base sentence's id as a group, so train/calibration splits never put variants
of one sentence on both sides. `DEV_MIXED` holds a few MIXED messages used only to choose
the MIXED threshold. None of this overlaps `evaluation_examples.py`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"

DEFAULT_SEED = 20240611
VARIANTS_PER_BASE = 4  # expanded texts per base sentence before deduplication

_SLOTS: dict[str, tuple[str, ...]] = {
    "country": ("Germany", "India", "Mexico", "Canada", "Italy", "Portugal", "Turkey", "Vietnam", "Peru", "Egypt"),
    "month": ("January", "February", "March", "April", "May", "August", "September", "November"),
    "day": ("1st", "5th", "10th", "15th", "20th", "25th"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"),
    "device": ("iPhone", "Android phone", "Samsung", "Pixel", "tablet", "old flip phone"),
    "n": ("10", "20", "30", "45", "60", "90"),
    "amount": ("5", "12", "18", "25", "40", "75"),
    "count": ("two", "three", "four", "five", "six"),
    "ordinal": ("third", "fourth", "fifth", "sixth"),
    "name": ("Maria", "James", "Aisha", "Tom", "Luis", "Mei", "Olga", "Ben"),
    "feature": ("call blocking", "usage alert", "voicemail to text", "wifi calling", "spending cap", "data rollover"),
    "city": ("Denver", "Austin", "Boston", "Seattle", "Chicago", "Portland"),
}
# "I paid for {paid} minutes and got only {got}": pairs keep got < paid.
_PAID_GOT: tuple[tuple[str, str], ...] = (("100", "90"), ("200", "150"), ("500", "420"), ("60", "45"), ("300", "240"))

_OPENERS: tuple[str, ...] = ("", "", "", "Hi, ", "Hello, ", "Good morning. ", "Hi there, ", "Hey, ")
_NEUTRAL_CLOSERS: tuple[str, ...] = ("", "", "", " Thanks.", " Thank you.", " Thanks in advance.")
_NEGATIVE_CLOSERS: tuple[str, ...] = ("", "", "", "", " Thanks.", " Please look into it.", " Please fix this.")
_POSITIVE_CLOSERS: tuple[str, ...] = ("", "", "", " Thanks!", " Cheers.", " Have a good day.")

_NEUTRAL_BASES: tuple[str, ...] = (
    # billing questions
    "When is my next bill due?",
    "What date does my billing cycle start?",
    "Can I get a copy of my {month} invoice?",
    "How do I set up automatic payments?",
    "Which payment methods can I use for my bill?",
    "Can I pay my bill by bank transfer?",
    "Where can I see an itemised list of my calls?",
    "Is it possible to move my payment date to the {day}?",
    "How much is my current balance?",
    "Can you send my bills to a different email address?",
    "Do you offer paperless billing?",
    "How long does it take for a payment to show on my account?",
    "I would like to switch to paper bills.",
    "Can you explain what the regulatory fee on my invoice is?",
    "Does the monthly price include tax?",
    "I'd like to pay {amount} dollars toward my balance today.",
    "What account number should I use for bank payments?",
    "Can you tell me what the charges on my {month} bill are for?",
    "Is there a discount if I pay for the year up front?",
    "How do I download my bills as PDF files?",
    # plan questions
    "What plans do you have with unlimited data?",
    "How much data is included in my plan?",
    "Does my plan include calls to {country}?",
    "What would it cost to add a second line?",
    "Can I switch to a prepaid plan?",
    "Is there a family plan for four lines?",
    "Do you have a plan for students?",
    "When does my contract end?",
    "How many minutes do I have left this month?",
    "Does my plan cover roaming in {country}?",
    "What is the difference between the basic and the premium plan?",
    "Can I keep my number if I change plans?",
    "Is hotspot use included in the unlimited plan?",
    "Are there any plans with international texting?",
    "How much is the international calling add-on for {country}?",
    "Can I change my plan in the middle of the month?",
    "What happens to unused data at the end of the month?",
    "Is there a plan for a {device} only?",
    "Do you have a plan with more minutes and less data?",
    "How much does a senior plan cost?",
    # how-to
    "How do I call a number in {country}?",
    "What is the country code for {country}?",
    "How do I set up voicemail on my {device}?",
    "How do I turn on wifi calling?",
    "How can I check my data usage?",
    "How do I activate my new SIM card?",
    "How do I forward calls to another number?",
    "How do I block a number on my {device}?",
    "Where do I find the PIN to unlock the SIM?",
    "How do I turn on roaming before my trip to {country}?",
    "How do I change my voicemail greeting?",
    "What are the APN settings for my {device}?",
    "How do I move my contacts to a new phone?",
    "How do I set up an eSIM on my {device}?",
    "Can I use my phone as a hotspot?",
    "How do I check my balance from my phone?",
    "What number do I dial to reach my voicemail?",
    "How do I reset my online account password?",
    "How do I turn on call waiting?",
    "How can I see which apps use the most data?",
    "How do I set up a conference call?",
    "How do I add credit to a prepaid line?",
    # account changes and requests
    "I need to update my mailing address.",
    "Please change the email address on my account.",
    "I would like to add my wife as an authorised user.",
    "Can I transfer this line to my son's name?",
    "I want to change the password for my online account.",
    "Please update the contact number for account alerts.",
    "I'd like to remove the international add-on at the end of this cycle.",
    "Can you remove the insurance from my second line?",
    "I want to move my number to a new SIM.",
    "Please add the roaming package for {country} from {month} 3 to {month} 17.",
    "I'm moving to {city} next month, do I need to update anything?",
    "Can I suspend my line while I'm abroad for {count} months?",
    "Please send a replacement SIM to my home address.",
    "I'd like to order a new {device}.",
    "Can you set up a payment plan for my new phone?",
    "Please close the second line on my account at the end of {month}.",
    "I want to add a data pack to my plan.",
    "Can I book an appointment at the {city} store?",
    # statements
    "I'm traveling to {country} next week.",
    "I just received my new {device}.",
    "My contract renewal is coming up in {month}.",
    "I made a payment this morning.",
    "I'm calling about the letter I received on {weekday}.",
    "I have two lines on my account.",
    "I'm checking whether my number can be transferred.",
    "My daughter will be using this phone from now on.",
    "I'm a new customer and I have a few questions.",
    "I'm writing about my account ending in {n}.",
    "My partner and I share one plan.",
    "I changed my bank account last week.",
    "I moved to a new apartment in {city} last week.",
    "My wife uses the second line on this account.",
    "I got a letter about my contract today.",
    "I'm going to be abroad from {month} until the end of the year.",
    "I paid the bill with my credit card yesterday.",
    "I received the new SIM card in the post this morning.",
    "I've just upgraded to the {device}.",
    "The account is in my husband's name.",
    "I have a business account with {count} lines.",
    "My son is starting college in {month} and will need his own phone.",
    "We are moving to {city} in the summer.",
    "I usually use about {n} GB of data a month.",
    "I mostly call family in {country}.",
    "I was at the {city} store on {weekday}.",
    "The phone is a gift for my mother.",
    "I'm on the {amount} dollar plan at the moment.",
    "I work night shifts, so please call me in the afternoon.",
    "My account number is on the letter you sent.",
    "I'll be in {country} for {count} weeks.",
    "I set up the direct debit on {weekday}.",
    "This is my first phone contract.",
    "I'm asking on behalf of my father.",
    "I'll visit the store after work today.",
    "I read about the new plans on your website.",
    "The order number is in the confirmation email.",
    "I have an appointment with the technician on {weekday}.",
    "My old phone is a {device}.",
    "We have four people in the family plan.",
    "I'll be using the phone mostly for work.",
    "I turned roaming on before I left.",
    "I have both a landline and a mobile with you.",
    "I'll send you the photo of the receipt.",
    "My employer pays half of the bill.",
    "I'm comparing plans before my contract ends.",
    # stores and shipping
    "What time does the store in {city} open?",
    "Do you have the {device} in stock?",
    "Is there a store near the airport in {city}?",
    "How long does delivery of a new SIM take?",
    "Can I pick up my order at a store?",
    "Do you ship phones to {city}?",
)

# Plain facts in the UCI review domains (phones, restaurants); used without greetings.
_NEUTRAL_REVIEW_BASES: tuple[str, ...] = (
    "The phone comes with a charger and a USB cable.",
    "I ordered the chicken sandwich and a side salad.",
    "The restaurant is on the corner of Fifth and Main.",
    "The headset connects over Bluetooth.",
    "We went there for lunch on a {weekday}.",
    "The case comes in black and blue.",
    "The battery is rated at 3000 mAh.",
    "The menu has pasta, pizza and a few salads.",
    "I bought this phone in {month}.",
    "The box contained the phone, a cable and a manual.",
    "We sat at a table near the window.",
    "The charger plugs into a standard wall socket.",
    "The earpiece has a volume button on the side.",
    "They serve breakfast until 11 am.",
    "I used this headset with my {device}.",
    "The restaurant opened last year.",
    "The phone weighs about 150 grams.",
    "We ordered two pizzas and a bottle of water.",
)

_NEGATIVE_BASES: tuple[str, ...] = (
    # complaints without emotional words
    "I paid for {paid} minutes and got only {got}.",
    "My bill shows a charge I did not make.",
    "The call dropped {count} times today.",
    "I was charged twice for {month}.",
    "There is a {amount} dollar fee on my bill that nobody told me about.",
    "I have had no signal at home since {weekday}.",
    "My data stopped working after the last update.",
    "I was promised a callback on {weekday} and nobody called.",
    "The discount I was promised is not on my bill.",
    "I cancelled the add-on last month but it is still on my invoice.",
    "The technician did not come on {weekday} as scheduled.",
    "I have been on hold for {n} minutes.",
    "My texts are arriving hours late.",
    "My voicemail has not worked for a week.",
    "I was billed for roaming in {country} but I never left the country.",
    "The refund from {month} has still not reached my account.",
    "My internet speed is a fraction of what the plan says.",
    "This is the {ordinal} time I am calling about the same charge.",
    "I returned the phone {count} weeks ago and I'm still being charged for it.",
    "The new SIM you sent does not work.",
    "You raised my price without telling me.",
    "I was told the upgrade was free and now I see a {amount} dollar charge.",
    "Calls to {country} cost twice what your website says.",
    "I cannot make calls from my apartment.",
    "Nobody answered my email from last week.",
    "My number was transferred without my permission.",
    "The app logs me out every time I open it.",
    "I have explained this problem to {count} different agents.",
    "My account was suspended even though I paid on time.",
    "The store told me something different from the phone agent.",
    "I still have not received the replacement phone.",
    "My bill went up by {amount} dollars and nothing changed on my plan.",
    "I was charged an activation fee that was supposed to be waived.",
    "The outage has lasted {n} hours and there is no update.",
    "I ran out of data halfway through the month even though I barely used the phone.",
    "Why was I charged a late fee when I paid on the due date?",
    "Why do I keep getting charged for a service I cancelled?",
    "Why is my bill {amount} dollars more than last month when I did not change anything?",
    "How is it possible that I was billed for calls I never made?",
    "My {device} shows no service most of the day.",
    "The credit you applied disappeared from my next bill.",
    "I was put on the wrong plan when I renewed.",
    "My order was marked delivered but nothing arrived.",
    "Every call to {country} cuts off after a few minutes.",
    "I did not receive the {amount} dollar credit that the agent promised.",
    "The callback was scheduled for {weekday} morning and it never happened.",
    "Your payment page rejected my card three times and then charged me twice.",
    "I was charged for {n} minutes of calls that lasted only a few seconds.",
    "You sent the bill to an address I left a year ago.",
    "The phone I bought from you stopped charging after two weeks.",
    "My line was disconnected by mistake.",
    "I have not had working internet for {count} days.",
    "I was transferred {count} times and the call was cut off.",
    "The hotspot stopped working and support could not tell me why.",
    # complaints with emotional words
    "This is unacceptable, I have had no service for {count} days.",
    "I'm really frustrated with how long this is taking.",
    "Your customer service is terrible.",
    "I'm tired of being passed from one department to another.",
    "This is the worst phone company I have ever used.",
    "I'm extremely disappointed with how my complaint was handled.",
    "Honestly, I am ready to switch providers.",
    "Stop charging me for things I didn't order!",
    "What a joke, the same problem again.",
    "I am angry that nobody has fixed my line yet.",
    "Your billing department is a disaster.",
    "I've had enough of these constant outages.",
)

_POSITIVE_BASES: tuple[str, ...] = (
    "Thanks for getting my phone working again so quickly.",
    "The agent I spoke with today was very helpful.",
    "My new plan is great value.",
    "Coverage has been excellent since I switched to you.",
    "I appreciate you waiving the late fee.",
    "The store staff were friendly and patient.",
    "Setting up the eSIM on my {device} was really easy.",
    "Great job fixing the outage so fast.",
    "I'm very happy with the service.",
    "Thank you for crediting my account.",
    "Your app makes it easy to check my usage.",
    "The call quality is excellent.",
    "I love the unlimited plan.",
    "{name} was wonderful and explained everything clearly.",
    "Thanks, that solved it!",
    "Perfect, everything works now.",
    "I've been a customer for {count} years and I've always been happy.",
    "Switching to your network was the best decision.",
    "The refund came through, thank you so much.",
    "Excellent support, the problem was fixed on the first call.",
    "The roaming package worked perfectly in {country}.",
    "{name} in the {city} store was a great help.",
    "The technician was quick and very professional.",
    "I'm really pleased with my new {device}.",
    "Thank you for the fast delivery.",
    "The data speeds are amazing.",
    "Your support team is fantastic.",
    "Thanks for your help today, much appreciated.",
    "The new router works great.",
    "I'm impressed with how easy the website is to use.",
    "Really good service, thank you.",
    "The family plan is a great deal for us.",
    "Thank you for explaining my bill so clearly.",
    "I'm glad I chose your company.",
    "The signal is strong everywhere I go.",
    "Thanks for calling me back so quickly.",
    "Wonderful customer service as always.",
    "I'm happy to recommend you to my friends.",
    "The staff at the {city} store were so friendly.",
    "The agent was polite and patient with me.",
    "{name} on the phone was lovely to deal with.",
    "Thanks for the quick refund.",
    "The new {feature} feature is really useful.",
    "I really like the {feature} option in the app.",
    "The bill was clear and easy to understand this month.",
    "The price of my plan is very reasonable.",
    "The coverage in {city} is superb.",
    "My new SIM worked straight out of the box, brilliant.",
    "The delivery was quick and the phone arrived in perfect condition.",
    "Great to see the outage fixed so quickly.",
    "You made switching plans really simple.",
    "The online chat was fast and friendly.",
    "The upgrade offer was a great deal.",
    "I'm delighted with the new plan.",
    "Your network never lets me down.",
    "Thanks a lot for the extra data this month, very generous.",
    "Really happy that the engineer fixed my line on the first visit.",
    "The support team was efficient and kind.",
    "Thank you for the loyalty discount.",
    "My calls are crystal clear now.",
    "What a great experience with your customer service.",
    "The international add-on saved me a lot of money.",
)

# MIXED messages for choosing the MIXED threshold (never used to fit weights).
DEV_MIXED: tuple[str, ...] = (
    "I love the coverage but the bill is way too high.",
    "The staff were friendly, but my phone still does not work.",
    "Great phone, but the battery dies by lunchtime.",
    "The plan is cheap. However, the data is painfully slow.",
    "Although the new router is fast, it disconnects every night.",
    "The agent was very polite but could not fix anything.",
    "I like the app, but it crashes every time I pay my bill.",
    "The food was delicious but the service was terribly slow.",
)


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: str
    group: str  # the base sentence's id: variants of one base stay on one side of a split


def _fill(template: str, rng: random.Random) -> str:
    paid, got = rng.choice(_PAID_GOT)
    values = {name: rng.choice(choices) for name, choices in _SLOTS.items()}
    values.update(paid=paid, got=got)
    return template.format(**values)


def _lowercase_ok(base: str) -> bool:
    first = base.split()[0]
    return not (base.startswith("{") or first == "I" or first.startswith("I'"))


def _expand(
    bases: tuple[str, ...],
    label: str,
    rng: random.Random,
    *,
    prefix: str,
    openers: tuple[str, ...] = _OPENERS,
    closers: tuple[str, ...] = ("",),
) -> list[Example]:
    out: list[Example] = []
    for index, base in enumerate(bases):
        group = f"{prefix}-{index:03d}"
        seen: set[str] = set()
        for variant in range(VARIANTS_PER_BASE):
            sentence = _fill(base, rng)
            if variant == 0:
                text = sentence  # the plain sentence is always present
            else:
                opener = rng.choice(openers)
                body = sentence
                if opener.endswith(", ") and _lowercase_ok(base):
                    body = sentence[0].lower() + sentence[1:]  # "Hi, how do I ..." reads naturally
                text = opener + body + rng.choice(closers)
            text = re.sub(r"\s+", " ", text).strip()
            if text not in seen:
                seen.add(text)
                out.append(Example(text, label, group))
    return out


def examples(seed: int = DEFAULT_SEED) -> list[Example]:
    """All training examples, in a fixed order for a given seed."""
    rng = random.Random(seed)
    return (
        _expand(_NEUTRAL_BASES, NEUTRAL, rng, prefix="neutral", closers=_NEUTRAL_CLOSERS)
        + _expand(_NEUTRAL_REVIEW_BASES, NEUTRAL, rng, prefix="neutral-review", openers=("",))
        + _expand(_NEGATIVE_BASES, NEGATIVE, rng, prefix="negative", closers=_NEGATIVE_CLOSERS)
        + _expand(_POSITIVE_BASES, POSITIVE, rng, prefix="positive", closers=_POSITIVE_CLOSERS)
    )
