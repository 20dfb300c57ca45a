"""The held-out evaluation set: customer-service messages that no weights were trained on.

Written by hand, separately from `training_examples.py` (no templates, no shared
sentences: `tests/python_udfs/test_sentiment_data.py` checks there is no overlap) to read like
real chat and e-mail messages to a phone company: typos, lower case, several sentences,
questions that are really complaints. Gold labels are the writer's judgement of what a
support agent would file the message as.

- `MESSAGES`: 3-class (POSITIVE / NEGATIVE / NEUTRAL) messages.
- `AURORA_MESSAGES`: the example customer messages of the Aurora ML walkthrough
  (`shared/data/aurora_blog_customer_messages.csv`, MIT-0), hand-labelled; the CSV has 10
  rows of which 9 texts are distinct ("You morons! You charged me extra again!" appears
  twice), and each distinct text is listed once.
- `MIXED_MESSAGES`: messages with one clearly positive and one clearly negative part, used
  to check MIXED detection; they are not in the 3-class scores.

`train_head` reports metrics on these in the weights' provenance; nothing here is ever fitted.
"""

from __future__ import annotations

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"
MIXED = "MIXED"

AURORA_MESSAGES: tuple[tuple[str, str], ...] = (
    ("Thank you very much for resolving the issues with my bill!", POSITIVE),
    ("I don't understand how I paid for 100 minutes and got only 90, you are ripping me off!", NEGATIVE),
    ("Please fix this issue! I am sick of sitting on a phone every single day with you people!", NEGATIVE),
    ("This is a really great feature, thank for helping me store all my phone numbers.", POSITIVE),
    ("Why am I paying so much for my international minutes?", NEGATIVE),
    (
        "Why do I have to wait for the response from the customer service for so long? I don't have time for this.",
        NEGATIVE,
    ),
    ("You morons! You charged me extra again!", NEGATIVE),
    ("How do I dial Morocco?", NEUTRAL),
    ("Thank you very much for resolving the issues with my account", POSITIVE),
)

_NEGATIVE: tuple[str, ...] = (
    "hi, my invoice for june has a 25 dollar 'service adjustment' on it and I have no idea what that is",
    "I topped up 20 euros on Friday and the balance still says zero.",
    "The signal in my flat drops to one bar every evening, calls cut out after a minute or two.",
    "I've been waiting since Tuesday for the engineer. He never turned up.",
    "Your website said the bundle was 15 a month. My statement says 22.",
    "for the 3rd month in a row I'm charged for a netflix add on I never asked for",
    "I sent my old handset back in April and you are still billing me the device instalment.",
    "Every time I ring someone the line goes dead after about 30 seconds.",
    "Got a text saying I used 4GB abroad. I was at home the whole week.",
    "The port of my number was supposed to finish yesterday and I have no service at all now.",
    "I was quoted one price in the shop and billed a different one.",
    "Your agent said the credit would appear within 48 hours. It's been two weeks.",
    "My mum can't hear me on the phone, the audio keeps breaking up.",
    "Data is crawling. A web page takes a full minute to load.",
    "No one replied to the ticket I opened on the 3rd.",
    "The bill lists 14 calls to a premium number that nobody in my house made.",
    "I've had to restart the phone five times today just to get a connection.",
    "this is ridiculous, third outage this week and not a single notification from you",
    "I asked to cancel in March and you took another payment in April.",
    "The contract I signed said no price rises for 24 months, yet here we are.",
    "Honestly the worst customer service I have dealt with in years.",
    "Waited 55 minutes on hold just to be disconnected.",
    "I can't log into the app, it just spins forever.",
    "My replacement SIM was sent to my old address even though I changed it last month.",
    "You cut off my line for non payment but the direct debit went out on the 1st!",
    "I'm being charged roaming in France, which is supposed to be included.",
    "Why did my bill jump from 30 to 48 when I haven't touched my plan?",
    "Why is there a cancellation fee when my contract ended in January?",
    "how come my data ran out on the 10th when I'm on the 20 gig plan??",
    "The voicemail notification pops up but there are no messages in the box.",
    "I keep getting spam calls and the block feature you advertise doesn't do anything.",
    "The store assistant told me the upgrade was free. It wasn't.",
    "I've explained the same problem to three people and nobody has fixed it.",
    "Still no refund for the double payment in May.",
    "The router you sent me disconnects every hour.",
    "Wifi calling stopped working after your update on Monday.",
    "I was promised a loyalty discount on the phone and it's not on this bill.",
    "The international call to my brother in Manila cost me 38 dollars for ten minutes.",
    "Texts from my bank arrive hours late, so the security codes expire.",
    "I cannot believe I have to chase you again about the same charge.",
    "I'm fed up with paying for 5G when I only ever get 3G.",
    "Nobody told me the promotional price would end after six months.",
    "my phone says emergency calls only since this morning",
    "Your engineer left without fixing anything and I was charged a call-out fee.",
    "The bill is impossible to understand and nobody can explain it to me.",
    "I've been a customer for 9 years and this is how you treat me.",
    "Half my calls go straight to voicemail even though my phone is on.",
    "I was charged for an upgrade that I turned down on the phone.",
    "The 'unlimited' plan got throttled after 15GB.",
    "There's a late payment fee on my account even though I paid early.",
    "Chat agent closed the conversation while I was still typing.",
    "I paid 60 for a top-up and only 40 was credited.",
    "My husband's line was suspended by mistake and he missed an important call.",
    "The coverage map says full 4G at my address. I get no signal indoors.",
    "I have asked you twice to remove my card details and they are still saved.",
    "I didn't agree to paper billing and now there's a 2 pound charge every month.",
    "Calls to my office number are billed as international even though it's in the same city.",
    "Since you changed the network settings my hotspot doesn't work.",
    "Three weeks and the replacement phone still hasn't shipped.",
    "I'm going to cancel if this isn't fixed by Friday.",
    "It took four calls to get someone who could actually help.",
    "The fee for my ported number was never refunded like you said.",
    "My balance disappears faster than I use it.",
    "Your automated line hung up on me twice.",
    "Is anyone actually going to fix my connection or should I just switch providers?",
)

_NEUTRAL: tuple[str, ...] = (
    "Hi, what's the cheapest way to call Brazil from here?",
    "Can I take my current number with me if I switch to the SIM only deal?",
    "I'll be in Japan for 3 weeks in October. Does my plan work there?",
    "What's the code to check my remaining minutes?",
    "Do you sell refurbished phones?",
    "Could you tell me when my contract finishes?",
    "I need a duplicate SIM for my tablet, how does that work?",
    "Is 5G available in Leeds yet?",
    "hello, I'd like to add my daughter to my account",
    "What time is the shop in the mall open on Sundays?",
    "My new address is 14 Park Road, please update it on my account.",
    "Can I get my bill sent by email instead of post?",
    "How do I set up a voicemail PIN?",
    "how do i turn off data roaming on an android",
    "Is there a limit on how many numbers I can block?",
    "I'd like to know the price of the 50GB plan.",
    "When does the billing month start for my account?",
    "Which iPhones support eSIM on your network?",
    "Can my son use my allowance or does he need his own plan?",
    "I want to change my direct debit to a different bank account.",
    "Do you have a plan that only has calls and texts, no data?",
    "What is the PUK code for my SIM? It is asking for one after I entered the PIN wrong.",
    "How many devices can connect to the hotspot at once?",
    "Please send me the terms and conditions for the family plan.",
    "Is it possible to pause my line while I'm travelling for two months?",
    "How do I call a UK number from Spain?",
    "I'm moving house next week, do I need to do anything with my broadband?",
    "Could someone call me back tomorrow after 2pm?",
    "What are your customer service hours?",
    "I paid my bill this morning by card, just letting you know.",
    "Where can I find my account number?",
    "Do calls to 0800 numbers count against my minutes?",
    "I'm thinking about upgrading in December, what options will I have?",
    "Is there a student discount?",
    "Can I switch from monthly to yearly billing?",
    "What does the 'other charges' line on my bill cover?",
    "How long does a number transfer usually take?",
    "I got a new phone and need to move my contacts across. What's the easiest way?",
    "Do you offer insurance for accidental damage?",
    "What's the international dialling code for Kenya?",
    "please change the name on the account to Sarah Lopez, I got married",
    "I need an itemised bill for my tax return.",
    "Is the 30 day rolling contract available for business customers?",
    "Can I pay for someone else's account online?",
    "Does the unlimited plan include tethering?",
    "I'm calling to confirm my appointment on Thursday at 10.",
    "How do I find out if my phone is unlocked?",
    "Which plan would suit someone who mostly uses WhatsApp?",
    "Can I have a second bill copy for March please.",
    "I'd like to set a spending cap on my son's line.",
    "We are a family of five, what bundle would you recommend?",
    "How do I forward my calls to my office line while I'm on holiday?",
    "Do you post the SIM or do I collect it from a store?",
    "Is there a fee to change my number?",
    "What's the difference between pay monthly and pay as you go?",
    "Where do I enter the voucher code for my top up?",
    "My email address has changed to jon.k@example.com.",
    "I'd like to downgrade to the 10GB plan from next month.",
    "Could you explain how roaming charges are calculated in the US?",
    "Does my phone need to be switched off when I put the new SIM in?",
)

_POSITIVE: tuple[str, ...] = (
    "Just wanted to say the lady in the Oxford Street shop was brilliant, sorted everything in 10 minutes.",
    "The new plan is working perfectly, thanks a lot!",
    "thanks so much, the refund has come through",
    "Brilliant, my number moved over without any downtime at all.",
    "Really impressed with how fast the engineer fixed the line.",
    "Signal at the cottage is finally great since the new mast went up. Cheers!",
    "Kevin on the phone was patient and super helpful with my mum's settings.",
    "Lovely service today, I appreciate it.",
    "Switching to you was easy and the price is fantastic.",
    "Appreciate the quick reply, that answers my question perfectly.",
    "I've had zero problems with your network in two years. Keep it up.",
    "The app update is great, much easier to see my usage now.",
    "Thank you for sorting out the mix-up on my account so quickly.",
    "Thanks for the goodwill credit, very kind of you.",
    "Your chat support is the best I've used.",
    "Roaming in Italy worked flawlessly, thanks!",
    "Fantastic deal on the upgrade, really happy with the new phone.",
    "The delivery came the next day, excellent.",
    "Everything is working now. You guys are great.",
    "Wow, that was the easiest phone setup I've ever done.",
    "I'm really pleased with the call quality since the upgrade.",
    "The technician was polite, on time and tidy. 10/10.",
    "Many thanks for waiving the fee, it made a big difference this month.",
    "Very happy with the family plan, the kids love it.",
    "Thanks Priyanka, you were a star.",
    "Internet has been super fast since you replaced the router, thank you.",
    "I love that I can manage everything from the app.",
    "Great to have such helpful staff, thank you for your time today.",
    "Superb coverage even out in the hills.",
    "Cheers for the heads up about the outage, very useful.",
    "Thank you! My voicemail works again.",
    "The student deal is amazing value.",
    "Excellent service as always.",
    "Your agent went above and beyond to help me, please pass on my thanks.",
    "Really appreciate you calling me back when you said you would.",
    "So glad I switched, my bills are half what they were.",
    "Honestly impressed, the store staff knew exactly what to do.",
    "Great news, the eSIM activated straight away.",
    "Thanks for making the transfer so painless.",
    "The new contract is exactly what I needed, thank you.",
    "Perfect, that fixed it. Have a great day!",
    "Nice work on the new website, finding my bills is easy now.",
    "Everyone I've spoken to has been friendly and helpful.",
    "The international bundle saved me a fortune on my trip, great idea.",
    "Happy customer here, keep up the good work!",
    "You've been really helpful, I'll recommend you to my friends.",
    "Excellent, thank you, the charge has been removed.",
    "Delighted with the speed of the 5G.",
    "Thank you for your patience with me on the phone yesterday.",
    "Smooth, fast and friendly. Thanks!",
)

_MIXED: tuple[str, ...] = (
    "The coverage is excellent, but the monthly price is far too high.",
    "I love my new phone, however the delivery took three weeks and nobody kept me updated.",
    "Your engineer was lovely. Unfortunately the line stopped working again an hour after he left.",
    "Great network, terrible customer service.",
    "Although the agent was friendly, my problem is still not fixed.",
    "The app is brilliant but the billing is a total mess.",
    "Thanks for the refund, but I was charged the same wrong fee again this month.",
    "Call quality is fantastic. The data speeds are awful though.",
    "The shop staff were really helpful, but the phone they sold me keeps crashing.",
    "I'm happy with the price, but the signal at my house is useless.",
    "The family plan is great value, however adding a line took four calls and a complaint.",
    "Love the unlimited data, hate the constant dropped calls.",
    "Setup was quick and easy but the router dies every evening.",
    "The roaming bundle was really handy, though I was still billed for texts I sent in Spain.",
    "Your chat team is wonderful but the phone line is a nightmare.",
)

MESSAGES: tuple[tuple[str, str], ...] = (
    tuple((text, NEGATIVE) for text in _NEGATIVE)
    + tuple((text, NEUTRAL) for text in _NEUTRAL)
    + tuple((text, POSITIVE) for text in _POSITIVE)
)

MIXED_MESSAGES: tuple[str, ...] = _MIXED


def three_class_set() -> list[tuple[str, str]]:
    """Every 3-class evaluation message with its gold label: `MESSAGES` then `AURORA_MESSAGES`."""
    return list(MESSAGES) + list(AURORA_MESSAGES)
