"""gen_home_data.py — synthetic home-assistant conversations for Hearth's embedded model.

Makes the training set and the held-out evaluation set for the tiny default
assistant: tool calls for the built-in tools (DESIGN.md §5 tools/), the
answer in words once a tool result comes back, greetings and small talk,
polite refusals of requests outside the tools, and entity extraction
(people and places in a sentence, as JSON).

Held-out is not a random split. Every generator draws from two disjoint
pools: carrier-sentence templates and literal slot values (rooms, devices,
cities, list items, notes, timer labels, names, out-of-scope requests) have a
"train" list and a separate "heldout" list, so the evaluation measures
phrasings and values the model never saw. Closed value sets stay shared on
purpose — numbers (durations, temperatures, clock times), weekdays and the
list names "shopping"/"todo" — because the model has to map them to numeric
arguments, not copy them; the held-out set still uses its own sentence
templates around them.

Noise like a speech recognizer's output is added to a share of user turns:
lower case, punctuation dropped, typos in the carrier words (never inside a
slot value, so the expected argument stays well defined).

Usage:
    gen_home_data.py --out DIR [--train N] [--heldout N] [--seed S]
writes DIR/train.jsonl (one conversation per line: {"kind", "messages",
"toolset"}, toolset "home" = TOOLS, "none" = no tools) and DIR/heldout.jsonl (the evaluation format, see MODEL_CARD.md).
Same seed, same files.
"""

import argparse
import importlib
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatml  # noqa: E402
import heldout_v2  # noqa: E402
import home_phrases  # noqa: E402
import synonyms  # noqa: E402
import written_frames  # noqa: E402

# ---------------------------------------------------------------------------
# Prompts and tool schemas (terse: the tool block is prefilled once and cached).

SYSTEM_PROMPT = ("You are Hearth, a voice assistant for the home. Use the tools to act. "
                 "Answer briefly. Politely refuse requests the tools cannot do.")

EXTRACT_PROMPT = ("Extract the people and places named in the user's text. Reply with JSON only: "
                  "{\"people\": [...], \"places\": [...]}")


# x-hearth-verbatim: the string is words of the user's turn (the engine's
# JSON guard holds the model to a copy); not shown to the model (chatml.shown)
V = {"type": "string", "x-hearth-verbatim": True}
# Bounded as an application asking for extraction would bound it: the guard
# caps an unbounded string at 256 characters and an array at 64 items, so a
# weak model repeating a word ("Ra Ra Ra ...") could still outrun a reply's
# token allowance and leave the JSON cut. Six names of 32 characters fit any
# sentence the generator writes (its lists run to three names, its names to
# 24 characters; tests/train_data checks).
_NAMES = {"type": "array", "maxItems": 6, "items": dict(V, maxLength=32)}
ENTITY_FORMAT = {"type": "json_schema", "json_schema": {"name": "entities", "schema": {
    "type": "object", "properties": {"people": _NAMES, "places": _NAMES},
    "required": ["people", "places"]}}}


def _fn(name, desc, props=None, required=None):
    params = {"type": "object", "properties": props or {}}
    if required:
        params["required"] = required
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": params}}


S = {"type": "string"}  # free text the model writes (an expression)
ONOFF = {"type": "string", "enum": ["on", "off"]}
LISTS = {"type": "string", "enum": ["shopping", "todo"]}

TOOLS = [
    _fn("get_time", "Current local time."),
    _fn("get_date", "Current date and weekday."),
    _fn("set_timer", "Start a countdown timer.",
        {"duration_seconds": {"type": "integer"}, "label": V}, ["duration_seconds"]),
    _fn("cancel_timer", "Cancel a timer, by label or the latest.", {"label": V}),
    _fn("list_timers", "List running timers and time left."),
    _fn("set_alarm", "Set an alarm at a clock time.",
        {"time": {"type": "string", "description": "HH:MM, 24-hour"}, "label": V}, ["time"]),
    _fn("add_note", "Save a note.", {"text": V}, ["text"]),
    _fn("list_add", "Add an item to a list.", {"list": LISTS, "item": V}, ["list", "item"]),
    _fn("list_remove", "Remove an item from a list.", {"list": LISTS, "item": V}, ["list", "item"]),
    _fn("list_read", "Read a list.", {"list": LISTS}, ["list"]),
    _fn("calculate", "Evaluate arithmetic.", {"expression": S}, ["expression"]),
    _fn("set_light", "Switch or dim the lights in a room.",
        {"room": V, "state": ONOFF, "brightness": {"type": "integer", "description": "0-100"}},
        ["room", "state"]),
    _fn("set_switch", "Switch a device on or off.", {"device": V, "state": ONOFF}, ["device", "state"]),
    _fn("set_thermostat", "Set the target temperature in Celsius.",
        {"room": V, "temperature": {"type": "number"}}, ["temperature"]),
    _fn("set_cover", "Move blinds, curtains or shutters; 0 closed, 100 open.",
        {"room": V, "position": {"type": "integer"}}, ["room", "position"]),
    _fn("get_weather", "Weather forecast.",
        {"place": V, "day": {"type": "string", "description": "today, tomorrow or a weekday"}}, ["day"]),
]

# ---------------------------------------------------------------------------
# Slot value pools: index 0 = train, index 1 = held-out. Disjoint by design.

ROOMS = (["kitchen", "living room", "bedroom", "bathroom", "office", "dining room", "hallway",
          "kids room", "guest room", "basement", "garage", "porch", "nursery", "laundry room",
          "study", "master bedroom", "attic", "hall", "family room", "upstairs", "downstairs",
          "entryway", "back room", "front room", "bedroom two"],
         ["den", "pantry", "loft", "playroom", "sunroom", "workshop", "lounge",
          "upstairs bathroom", "mudroom", "library", "cellar", "studio"])
COVER_ROOMS = ROOMS
DEVICES = (["coffee maker", "fan", "heater", "tv", "kettle", "dishwasher", "air purifier",
            "christmas lights", "printer", "humidifier", "radio", "washing machine", "desk lamp",
            "ceiling fan", "dryer", "microwave", "toaster", "router", "speaker", "water heater",
            "fairy lights", "garden pump", "electric fireplace", "computer", "projector"],
           ["espresso machine", "space heater", "fountain", "aquarium pump", "record player",
            "dehumidifier", "electric blanket", "towel warmer", "rice cooker", "sound bar",
            "porch heater", "bread maker"])
CITIES = (["paris", "london", "berlin", "madrid", "rome", "tokyo", "new york", "chicago",
           "boston", "seattle", "toronto", "sydney", "dublin", "vienna", "prague", "oslo",
           "stockholm", "amsterdam", "lisbon", "athens", "cairo", "mumbai", "beijing", "seoul",
           "denver", "miami", "austin", "munich", "zurich", "warsaw", "helsinki", "nairobi",
           "lima", "bogota", "montreal", "vancouver", "glasgow", "manchester", "lyon", "milan"],
          ["copenhagen", "budapest", "edinburgh", "barcelona", "osaka", "melbourne", "portland",
           "atlanta", "istanbul", "dallas", "geneva", "marseille", "krakow", "reykjavik",
           "santiago", "hamburg", "auckland", "phoenix"])
SHOP_ITEMS = (["milk", "eggs", "bread", "butter", "cheese", "apples", "bananas", "coffee",
               "tea", "rice", "pasta", "tomatoes", "onions", "garlic", "chicken", "yogurt",
               "orange juice", "toilet paper", "dish soap", "olive oil", "flour", "sugar",
               "potatoes", "carrots", "cereal", "peanut butter", "batteries", "light bulbs",
               "shampoo", "toothpaste", "lemons", "honey", "oat milk", "frozen peas", "salt"],
              ["avocados", "mushrooms", "blueberries", "tortillas", "sparkling water",
               "paper towels", "cinnamon", "spinach", "ginger", "almonds", "cat food",
               "laundry detergent", "mozzarella", "hummus"])
TODO_ITEMS = (["call the bank", "pay the rent", "book a dentist appointment", "clean the garage",
               "water the plants", "fix the sink", "renew my passport", "email the landlord",
               "take out the trash", "walk the dog", "return the library books", "buy a gift",
               "mow the lawn", "call grandma", "pick up the dry cleaning", "wash the car",
               "change the sheets", "send the invoice"],
              ["defrost the freezer", "schedule a haircut", "repaint the fence",
               "cancel the gym membership", "sort the recycling", "update the calendar",
               "order new glasses", "clean the windows"])
NOTES = (["the plumber comes on tuesday", "buy a new charger", "the wifi password is on the fridge",
          "call mom back", "the meeting moved to friday", "remember to feed the cat",
          "parking is on level three", "the car needs an oil change", "pick up the kids at four",
          "the package arrives tomorrow", "return the blue sweater", "ask about the bill",
          "idea for a birthday party", "the spare key is under the mat", "check the smoke alarm",
          "bring snacks to the picnic", "the neighbors are away next week", "try the new bakery"],
         ["the landlord visits on monday", "order more printer ink", "the boiler made a noise",
          "lend the ladder to sam", "the recipe needs two eggs", "dentist moved to noon",
          "garden hose is leaking", "book tickets for the concert"])
TIMER_LABELS = (["pasta", "eggs", "laundry", "tea", "pizza", "rice", "bread", "cookies", "nap",
                 "workout", "oven", "homework", "parking", "chicken", "break", "cake"],
                ["lasagna", "quinoa", "meditation", "yoga", "soup", "steak", "potatoes", "muffins"])
ALARM_LABELS = (["work", "gym", "school", "meeting", "flight", "medicine", "run"],
                ["yoga class", "bus", "train", "doctor"])
FIRST = (["john", "maria", "ahmed", "li", "sarah", "david", "emma", "carlos", "anna", "peter",
          "fatima", "james", "sofia", "lucas", "olivia", "mohammed", "yuki", "elena", "tom",
          "grace", "michael", "laura", "daniel", "nina", "omar", "julia", "kevin", "alice",
          "hans", "priya"],
         ["beatrice", "kwame", "ingrid", "rafael", "mei", "dmitri", "chloe", "tariq", "isabel",
          "gustav", "amara", "felix"])
LAST = (["smith", "garcia", "chen", "mueller", "rossi", "kim", "brown", "silva", "novak",
         "jones", "tanaka", "khan", "martin", "lopez", "wilson", "schmidt", "dubois", "patel"],
        ["okafor", "lindqvist", "moreau", "castillo", "nakamura", "horvath", "brennan", "adeyemi"])
PLACES_EXTRA = (["france", "germany", "japan", "brazil", "canada", "italy", "spain", "mexico",
                 "india", "egypt", "kenya", "norway", "the alps", "texas", "california",
                 "scotland", "peru", "chile"],
                ["portugal", "iceland", "vietnam", "morocco", "argentina", "finland", "nepal",
                 "the sahara", "oregon"])

_SLOT_POOLS = (ROOMS, DEVICES, CITIES, SHOP_ITEMS, TODO_ITEMS, NOTES, TIMER_LABELS, ALARM_LABELS,
               FIRST, LAST, PLACES_EXTRA)
_HELDOUT_WORDS = {w for pool in _SLOT_POOLS for v in pool[1] for w in v.split(" ")}

OUT_OF_SCOPE = ([
    "book me a flight to {city}", "order a pizza", "send an email to {first}", "call {first}",
    "play some jazz", "play the next song", "what's the stock price of apple",
    "who won the game last night", "translate hello into french", "post this on facebook",
    "buy me new shoes online", "text {first} that i'm late", "read me the news",
    "find a restaurant near me", "book a table for two", "order a taxi", "what's on tv tonight",
    "write me a poem", "tell me a joke about cats", "how do i fix my car engine",
    "what's the meaning of life", "help me with my taxes", "pay my electricity bill",
    "search the web for cheap hotels", "download this movie", "hack my neighbor's wifi",
    "show me photos of {city}", "open netflix", "record this show", "video call {first}",
    "who is the president of france", "how tall is mount everest", "give me directions to {city}",
    "transfer money to {first}", "order more dog food online", "what's my credit score",
    "check my email", "read my messages", "start the car", "vacuum the living room",
    "do the dishes for me", "feed the cat", "lock my phone", "take a photo",
    "summarize this book", "teach me spanish", "what's the capital of peru",
    "recommend a good movie", "book a hotel in {city}", "cancel my netflix subscription",
], [
    "order sushi for dinner", "send a whatsapp to {first}", "play my workout playlist",
    "how much is bitcoin worth", "who wrote hamlet", "book a haircut for saturday",
    "rent a car in {city}", "compose a song about rain", "sell my old bike online",
    "what movies are playing in {city}", "reserve a room in {city}", "message {first} on slack",
    "change my password", "solve this crossword", "buy concert tickets",
    "find me a plumber online", "what is the population of {city}", "mow the lawn for me",
    "tell me a bedtime story", "look up the football scores",
])
CHAT = ([
    ("hi", "Hello! How can I help?"), ("hello", "Hi! What can I do for you?"),
    ("hey", "Hey! How can I help?"), ("good morning", "Good morning! How can I help?"),
    ("good evening", "Good evening! What can I do for you?"),
    ("good night", "Good night! Sleep well."), ("thanks", "You're welcome!"),
    ("thank you", "You're welcome!"), ("thank you so much", "Happy to help!"),
    ("thanks a lot", "You're welcome!"), ("how are you", "I'm doing well, thanks! How can I help?"),
    ("who are you", "I'm Hearth, your home assistant."),
    ("what's your name", "I'm Hearth, your home assistant."),
    ("what can you do", "I can set timers and alarms, keep notes and lists, control lights, "
                        "switches, the thermostat and blinds, do sums and check the weather."),
    ("help", "I can set timers and alarms, keep notes and lists, control lights, switches, "
             "the thermostat and blinds, do sums and check the weather."),
    ("bye", "Goodbye!"), ("see you later", "See you later!"), ("ok", "Okay."),
    ("never mind", "Okay, no problem."), ("that's all", "Okay. Just ask if you need anything."),
    ("you're great", "Thank you!"), ("nice job", "Thanks!"),
], [
    ("hey hearth", "Hey! How can I help?"), ("good afternoon", "Good afternoon! How can I help?"),
    ("cheers", "You're welcome!"), ("much appreciated", "Happy to help!"),
    ("what are you", "I'm Hearth, your home assistant."),
    ("what things can you help with", "I can set timers and alarms, keep notes and lists, "
     "control lights, switches, the thermostat and blinds, do sums and check the weather."),
    ("goodbye", "Goodbye!"), ("howdy", "Hello! How can I help?"),
])

# ---------------------------------------------------------------------------
# Numbers and times in words.

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words(n):
    """English words for 0 <= n < 1000 ("twenty one", "three hundred and five")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    rest = n % 100
    return ONES[n // 100] + " hundred" + ("" if rest == 0 else " and " + words(rest))


def num(rng, n, p_words=0.35):
    """A number as digits or words."""
    return words(n) if (n < 1000 and rng.random() < p_words) else str(n)


def duration(rng):
    """(spoken duration, seconds) across seconds, minutes, hours and mixes."""
    kind = rng.random()
    if kind < 0.15:
        s = rng.choice([5, 10, 15, 20, 30, 40, 45, 50, 60, 90, 100, 120])
        u = rng.choice(["seconds", "seconds", "secs", "second"] if s != 1 else ["second"])
        return "%s %s" % (num(rng, s), u), s
    if kind < 0.70:
        m = rng.randint(1, 60) if rng.random() < 0.7 else rng.choice([5, 10, 15, 20, 25, 30, 45])
        if m == 1:
            return rng.choice(["one minute", "1 minute", "a minute"]), 60
        u = rng.choice(["minutes", "minutes", "minutes", "min", "mins"])
        return "%s %s" % (num(rng, m), u), 60 * m
    if kind < 0.80:
        return rng.choice([("half an hour", 1800), ("a quarter of an hour", 900),
                           ("an hour and a half", 5400), ("a minute and a half", 90),
                           ("an hour", 3600), ("two and a half minutes", 150)])
    if kind < 0.92:
        h = rng.randint(1, 12)
        if h == 1:
            return rng.choice(["one hour", "1 hour", "an hour"]), 3600
        return "%s %s" % (num(rng, h), rng.choice(["hours", "hours", "hrs"])), 3600 * h
    h = rng.randint(1, 3)
    m = rng.choice([5, 10, 15, 20, 30, 40, 45])
    hs = "1 hour" if h == 1 else "%s hours" % num(rng, h)
    return "%s and %s minutes" % (hs, num(rng, m)), 3600 * h + 60 * m


def say_duration(sec):
    """How the assistant phrases a duration back."""
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    parts = []
    if h:
        parts.append("%d hour%s" % (h, "" if h == 1 else "s"))
    if m:
        parts.append("%d minute%s" % (m, "" if m == 1 else "s"))
    if s:
        parts.append("%d second%s" % (s, "" if s == 1 else "s"))
    return " and ".join(parts)


def clock(rng):
    """(spoken clock time, "HH:MM")."""
    h = rng.randint(1, 12)
    m = rng.choice([0, 0, 0, 15, 30, 45, 5, 10, 20, 40, 50, 25, 35, 55])
    ampm = rng.choice(["am", "pm", "a.m.", "p.m.", "in the morning", "in the evening", ""])
    pm = ampm in ("pm", "p.m.", "in the evening")
    if ampm == "in the evening" and h < 5:
        ampm, pm = "pm", True
    h24 = (h % 12) + (12 if pm else 0)
    if h == 12 and ampm == "":
        h24 = 12
    r = rng.random()
    if m == 0:
        spoken = rng.choice(["%d" % h, "%d:00" % h, words(h), "%s o'clock" % words(h)])
    elif r < 0.5:
        spoken = "%d:%02d" % (h, m)
    elif m == 15:
        spoken = "quarter past %s" % words(h)
    elif m == 30:
        spoken = "half past %s" % words(h)
    elif m == 45:
        nh = h % 12 + 1
        spoken = "quarter to %s" % words(nh)
    else:
        spoken = "%s %s" % (words(h), ("oh " + words(m)) if m < 10 else words(m))
    if rng.random() < 0.05:
        return rng.choice([("noon", "12:00"), ("midnight", "00:00")])
    return (spoken + (" " + ampm if ampm else "")).strip(), "%02d:%02d" % (h24, m)


DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


# ---------------------------------------------------------------------------
# Noise like a speech recognizer's transcript.

def typo(rng, word):
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(3)
    if op == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1:
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def fill(rng, template, slots, noisy):
    """Fill {slot}s; noise touches only the template's own words."""
    out = []
    for piece in _split_template(template):
        if piece.startswith("{"):
            out.append(slots[piece[1:-1]])
        else:
            if noisy and rng.random() < 0.5:
                ws = piece.split(" ")
                k = rng.randrange(len(ws))
                ws[k] = typo(rng, ws[k])
                piece = " ".join(ws)
            out.append(piece)
    text = "".join(out)
    if noisy:
        # a recognizer drops punctuation but writes "22.5" as it is: dropping
        # that point too made "225 degrees" mean 22.5, a call no one could get
        text = re.sub(r"[?!,]|(?<!\d)\.|\.(?!\d)", "", text.lower())
    else:
        r = rng.random()
        if r < 0.3:
            text = text[0].upper() + text[1:]
        if r < 0.2:
            text += "?" if text.split(" ")[0].lower() in ("what", "what's", "how", "is", "when", "whats",
                                                          "which", "can", "could", "will") else "."
        elif r > 0.9:
            text += rng.choice(["?", ".", "!", " please"])
    return text


def _split_template(t):
    parts, i = [], 0
    while i < len(t):
        j = t.find("{", i)
        if j < 0:
            parts.append(t[i:])
            break
        if j > i:
            parts.append(t[i:j])
        k = t.index("}", j)
        parts.append(t[j:k + 1])
        i = k + 1
    return parts


# ---------------------------------------------------------------------------
# Intents. Each returns (template pair, slots, call args, tool result, answer).
# Templates: (train list, held-out list).

T = {}
T["set_timer"] = ([
    "set a timer for {dur}", "set a {dur} timer", "timer for {dur}", "start a timer for {dur}",
    "can you set a timer for {dur}", "please set a timer for {dur}", "countdown {dur}",
    "remind me in {dur}", "set timer {dur}", "i need a timer for {dur}", "start a {dur} countdown",
    "put a timer on for {dur}", "time {dur} for me", "give me a {dur} timer",
], [
    "could you time {dur}", "begin a countdown of {dur}", "alert me after {dur}",
    "run a timer of {dur}", "let me know when {dur} have passed", "timer please {dur}",
])
T["set_timer_label"] = ([
    "set a {label} timer for {dur}", "set a timer for {dur} for the {label}",
    "{label} timer {dur}", "start a {dur} timer called {label}", "timer for the {label} {dur}",
    "set a {dur} timer for {label}", "name a timer {label} for {dur}",
], [
    "countdown for the {label} of {dur}", "i need {dur} for the {label}, set a timer",
    "make a timer named {label} for {dur}",
])
T["cancel_timer"] = ([
    "cancel the timer", "stop the timer", "delete the timer", "turn off the timer",
    "cancel my timer", "never mind the timer", "kill the timer", "remove the timer",
], ["abort the timer", "scrap that timer", "get rid of the timer", "forget the timer"])
T["cancel_timer_label"] = ([
    "cancel the {label} timer", "stop the {label} timer", "delete the {label} timer",
    "cancel timer {label}", "turn off the {label} timer",
], ["abort the {label} timer", "scrap the {label} timer", "get rid of the {label} countdown"])
T["list_timers"] = ([
    "how much time is left", "what timers are running", "list my timers", "show the timers",
    "how long is left on the timer", "any timers running", "check the timer",
    "how much time is left on my timer", "what timers do i have",
], ["time remaining on timers", "which timers are active", "status of my timers",
    "how long until the timer goes off"])
T["set_alarm"] = ([
    "set an alarm for {time}", "wake me up at {time}", "alarm at {time}", "set alarm {time}",
    "i need an alarm at {time}", "can you wake me at {time}", "set an alarm at {time}",
    "alarm for {time} please", "wake me at {time}", "create an alarm for {time}",
], ["get me up at {time}", "rouse me at {time}", "i want to wake up at {time}",
    "make an alarm for {time}", "put an alarm on for {time}"])
T["set_alarm_label"] = ([
    "set a {label} alarm for {time}", "alarm at {time} for {label}",
    "wake me at {time} for {label}", "set an alarm called {label} at {time}",
], ["schedule a {label} alarm at {time}", "for {label} wake me up at {time}"])
T["add_note"] = ([
    "note that {note}", "make a note that {note}", "take a note {note}", "write down {note}",
    "remember that {note}", "add a note {note}", "save a note saying {note}", "note {note}",
    "jot down {note}", "make a note: {note}", "create a note {note}",
], ["please record that {note}", "keep a note that {note}", "put down a note {note}",
    "can you note down {note}", "store a note {note}"])
T["list_add_shopping"] = ([
    "add {item} to the shopping list", "put {item} on my shopping list", "we need {item}",
    "add {item} to my shopping list", "shopping list add {item}", "i need to buy {item}",
    "put {item} on the shopping list", "add {item} to shopping", "we're out of {item}",
    "remind me to buy {item}", "add {item} to the grocery list",
], ["stick {item} on the shopping list", "include {item} in my shopping list",
    "we have run out of {item}", "grocery list plus {item}", "need to pick up {item}"])
T["list_add_todo"] = ([
    "add {todo} to my todo list", "put {todo} on the to do list", "add {todo} to the todo list",
    "todo list add {todo}", "remind me to {todo}", "add a task {todo}", "new task {todo}",
], ["stick {todo} on my to do list", "include {todo} in the todo list",
    "i have to {todo}, add it to my tasks", "to do list plus {todo}"])
T["list_remove_shopping"] = ([
    "remove {item} from the shopping list", "take {item} off my shopping list",
    "delete {item} from the shopping list", "cross {item} off the shopping list",
    "i got the {item}, remove it from the shopping list", "shopping list remove {item}",
], ["strike {item} from the shopping list", "drop {item} from my shopping list",
    "scratch {item} off the grocery list"])
T["list_remove_todo"] = ([
    "remove {todo} from my todo list", "i finished {todo}, take it off the to do list",
    "delete {todo} from the todo list", "cross {todo} off my todo list",
    "mark {todo} as done",
], ["strike {todo} off the todo list", "drop {todo} from my to do list",
    "{todo} is done, remove it from my tasks"])
T["list_read_shopping"] = ([
    "what's on my shopping list", "read the shopping list", "read me my shopping list",
    "what do i need to buy", "show the shopping list", "what's on the grocery list",
    "what is on the shopping list",
], ["go through my shopping list", "tell me the shopping list", "list the groceries i need"])
T["list_read_todo"] = ([
    "what's on my todo list", "read my to do list", "what do i have to do",
    "read me the todo list", "show my tasks", "what are my tasks",
], ["go through my to do list", "tell me my tasks", "what's left on my todo list"])
T["calculate"] = ([
    "what is {a} {op} {b}", "what's {a} {op} {b}", "calculate {a} {op} {b}", "{a} {op} {b}",
    "how much is {a} {op} {b}", "compute {a} {op} {b}", "can you work out {a} {op} {b}",
    "what does {a} {op} {b} make",
], ["figure out {a} {op} {b}", "tell me {a} {op} {b}", "{a} {op} {b} equals what",
    "solve {a} {op} {b}"])
T["percent"] = ([
    "what is {a} percent of {b}", "what's {a} percent of {b}", "calculate {a}% of {b}",
    "how much is {a} percent of {b}",
], ["figure out {a} percent of {b}", "tell me {a}% of {b}"])
T["light_on"] = ([
    "turn on the {room} lights", "turn on the lights in the {room}", "switch on the {room} light",
    "lights on in the {room}", "{room} lights on", "turn the {room} light on",
    "can you turn on the {room} lights", "light up the {room}", "put the lights on in the {room}",
], ["illuminate the {room}", "i need light in the {room}", "power on the {room} lights",
    "get the {room} lights on"])
T["light_off"] = ([
    "turn off the {room} lights", "turn off the lights in the {room}", "switch off the {room} light",
    "lights off in the {room}", "{room} lights off", "turn the {room} light off",
    "kill the lights in the {room}", "shut off the {room} lights",
], ["darken the {room}", "no more light in the {room}", "power down the {room} lights",
    "cut the {room} lights"])
T["light_dim"] = ([
    "set the {room} lights to {pct} percent", "dim the {room} lights to {pct} percent",
    "{room} lights {pct} percent", "set the lights in the {room} to {pct}%",
    "brightness {pct} percent in the {room}", "dim the {room} light to {pct}",
], ["adjust the {room} lights to {pct} percent", "make the {room} lights {pct} percent bright",
    "put the {room} lighting at {pct}%"])
T["switch_on"] = ([
    "turn on the {device}", "switch on the {device}", "start the {device}", "{device} on",
    "turn the {device} on", "power on the {device}", "can you turn on the {device}",
], ["fire up the {device}", "get the {device} going", "enable the {device}"])
T["switch_off"] = ([
    "turn off the {device}", "switch off the {device}", "stop the {device}", "{device} off",
    "turn the {device} off", "power off the {device}", "shut off the {device}",
], ["shut down the {device}", "disable the {device}", "kill the {device}"])
T["thermostat"] = ([
    "set the thermostat to {temp}", "set the temperature to {temp} degrees",
    "make it {temp} degrees", "heat to {temp}", "set the heating to {temp}",
    "thermostat {temp}", "i want it at {temp} degrees", "change the temperature to {temp}",
], ["adjust the heat to {temp} degrees", "bring the temperature to {temp}",
    "warm the house to {temp} degrees", "target {temp} degrees please"])
T["thermostat_room"] = ([
    "set the {room} to {temp} degrees", "make the {room} {temp} degrees",
    "set the thermostat in the {room} to {temp}", "{room} temperature {temp}",
    "heat the {room} to {temp}",
], ["adjust the {room} heat to {temp} degrees", "warm the {room} up to {temp}"])
T["cover_open"] = ([
    "open the {room} blinds", "open the blinds in the {room}", "raise the {room} shutters",
    "open the curtains in the {room}", "{room} blinds up", "pull up the {room} blinds",
], ["draw back the {room} curtains", "let the light into the {room}", "lift the {room} shades"])
T["cover_close"] = ([
    "close the {room} blinds", "close the blinds in the {room}", "lower the {room} shutters",
    "close the curtains in the {room}", "{room} blinds down", "shut the {room} blinds",
], ["draw the {room} curtains", "pull down the {room} shades", "block the light in the {room}"])
T["cover_pos"] = ([
    "set the {room} blinds to {pct} percent", "open the {room} blinds {pct} percent",
    "{room} shutters to {pct}%", "move the blinds in the {room} to {pct} percent",
], ["position the {room} shades at {pct} percent", "put the {room} curtains at {pct}%"])
T["weather"] = ([
    "what's the weather in {city} {day}", "weather in {city} {day}", "how's the weather in {city} {day}",
    "will it rain in {city} {day}", "what's the forecast for {city} {day}",
    "is it going to be sunny in {city} {day}", "weather {city} {day}",
    "what will the weather be like in {city} {day}",
], ["do i need an umbrella in {city} {day}", "forecast {city} {day}",
    "how hot will it be in {city} {day}", "tell me the weather for {city} {day}"])
T["weather_here"] = ([
    "what's the weather {day}", "weather {day}", "will it rain {day}", "what's the forecast {day}",
    "how's the weather {day}", "is it going to be cold {day}",
], ["do i need a jacket {day}", "tell me the forecast {day}", "any rain expected {day}"])
T["get_time"] = ([
    "what time is it", "what's the time", "tell me the time", "time please", "current time",
    "do you know what time it is", "what time is it now",
], ["have you got the time", "what hour is it", "check the clock"])
T["get_date"] = ([
    "what's the date", "what day is it", "what's today's date", "what is the date today",
    "which day is today", "today's date",
], ["what date is it today", "tell me the date", "what day of the week is it"])
T["refuse"] = (["{req}", "can you {req}", "please {req}", "i want you to {req}"],
               ["{req}", "could you {req}", "hey {req}"])
T["chat"] = (["{chat}"], ["{chat}"])
T["extract"] = ([
    "{p1} met {p2} in {l1} last week.", "yesterday {p1} flew from {l1} to {l2}.",
    "{p1} lives in {l1} with {p2}.", "my friend {p1} just moved to {l1}.",
    "{p1} and {p2} are visiting {l1} next summer.", "the train from {l1} to {l2} was late.",
    "{p1} called me from {l1}.", "we had dinner with {p1} in {l1}.",
    "the weather in {l1} was lovely.", "{p1} sent a postcard to {p2}.",
    "i think {p1} works in {l1} now.", "nobody told me about the meeting.",
    "the cat is sleeping on the sofa.", "{p1} said the concert in {l1} was amazing.",
    "{p1}, {p2} and {p3} drove to {l1}.", "is {p1} coming back from {l1} tomorrow?",
    "{p1} grew up in {l1} but lives in {l2}.", "tell {p1} that {p2} arrived in {l1}.",
    "{p1} is flying to {l1} on monday.", "did {p1} ever visit {l1}?", "{p1} and i went hiking in {l1}.",
    "the package from {l1} is for {p1}.", "{p1} married {p2} in {l1}.", "ask {p1} about the trip to {l1}.",
    "{p1} thinks {l1} is nicer than {l2}.", "i saw {p1} and {p2} at the market.",
    "{p1} has a cousin in {l1}.", "we are meeting {p1} in {l1} at noon.", "{p1} left {l1} years ago.",
    "my sister {p1} studies in {l1}.", "{p1} recommended a hotel in {l1}.", "the kids played in the garden.",
    "please remind me to water the plants.", "{p1} cooked dinner for {p2} and {p3}.",
    "a letter came from {l1} today.", "{p1} works with {p2}.", "from {l1} we drove on to {l2}.",
], [
    "{p1} bumped into {p2} at the airport in {l1}.", "last year {p1} hiked across {l1}.",
    "{p1} is teaching {p2} to cook in {l1}.", "the conference moved from {l1} to {l2}.",
    "our dishwasher broke again.", "{p1} wrote to me from {l1} about {p2}.",
    "after {l1}, {p1} plans to see {l2}.", "{p1} and {p2} never liked {l1}.",
])


# Invented slot values. The pools are small, so a model trained on them
# alone learns to recall the values it has seen instead of copying what the
# user said, and the held-out values (pools disjoint by design) then come
# out as a training value ("pantry" -> "front room"). A share of training
# slots therefore holds invented words, so the only way to get them right
# is to copy them from the request.
NOVEL_SHARE = [0.3]   # set by --novel-share
_ONSETS = ["b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m", "n", "p",
           "pl", "r", "s", "sh", "st", "t", "tr", "v", "w", "z"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "oo", "ou"]
_CODAS = ["", "", "n", "r", "s", "t", "l", "m", "nd", "ck", "st"]


# English letter frequencies (per mille), for invented words spelled letter
# by letter: syllable-built words alone cover a few hundred sub-word pieces,
# and a model that learned to copy those did not copy the pieces of real
# words it had never seen ("cinnamon" came out "nacofout").
_LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
_LETTER_W = [127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28, 24, 24, 22, 20, 20, 19, 15, 10, 8, 2,
             2, 1, 1]


LETTER_SHARE = [0.5]  # set by --letter-share
DICT_SHARE = [0.0]    # set by --dict-share
DICT_PATH = "/usr/share/dict/words"   # Debian's wamerican
_DICT = []


def _dict_words():
    """Real English words for invented slot values: lower-case a-z, 3 to 12
    letters, none a word of a held-out value or of any sentence frame.

    Syllable-built words have a few hundred shapes; the held-out values are
    real words ("aquarium pump", "dehumidifier") whose pieces a model that
    only copied syllables picks wrongly. Copying tens of thousands of real
    words it was never asked for teaches it to copy whatever the user says.
    """
    if not _DICT:
        if not os.path.exists(DICT_PATH):
            sys.exit("gen_home_data: --dict-share needs %s (apt-get install wamerican)" % DICT_PATH)
        # The second set's words leave the dictionary only for data evaluated on it: the
        # stages before it existed keep their invented words (v2 frames are no training frames
        # either way).
        frames = heldout_frames(HELDOUT_SET[0] == "v2") + home_phrases.LEADS + home_phrases.TAILS
        for fs in train_frames().values():     # lists of frames or (chat, reply) pairs
            frames += [f if isinstance(f, str) else f[0] for f in fs] if isinstance(fs, list) else []
        banned = _HELDOUT_WORDS | {w for f in frames for w in re.findall(r"[a-z]+", f.lower())}
        with open(DICT_PATH, encoding="utf-8") as f:
            _DICT.extend(sorted({w for w in f.read().split("\n")
                                 if re.fullmatch(r"[a-z]{3,12}", w) and w not in banned}))
    return _DICT


def _novel_word(rng, dict_ok=True):
    if dict_ok and DICT_SHARE[0] and rng.random() < DICT_SHARE[0]:
        return rng.choice(_dict_words())
    if LETTER_SHARE[0] and rng.random() < LETTER_SHARE[0]:
        return "".join(rng.choices(_LETTERS, _LETTER_W, k=rng.randint(3, 10)))
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 3))) \
        + rng.choice(_CODAS)


def _fresh_word(rng, dict_ok=True):
    w = _novel_word(rng, dict_ok)
    while w in _HELDOUT_WORDS:
        w = _novel_word(rng, dict_ok)
    return w


def _novel(rng, value, dict_ok=True):
    """value with invented words: every word of a one- or two-word value, one
    or two words of a longer phrase (so it still reads as a note or a task)."""
    ws = value.split(" ")
    k = len(ws) if len(ws) <= 2 else rng.randint(1, 2)
    for i in rng.sample(range(len(ws)), k):
        ws[i] = _fresh_word(rng, dict_ok)
    return " ".join(ws)


# Compound values. Held-out values often join a word the model knows as a
# value on its own to another ("upstairs bathroom", "cat food", "record
# player"), and a model that learned whole values stops at the known word or
# starts at it ("bathroom", "cat"). A share of invented values is therefore a
# known training value with a word before or after it, or two known values
# joined, so the value's edges come from the sentence, not from memory.
COMBO_SHARE = [0.0]       # set by --combo-share
SYLLABLE_NAMES = [False]  # set by --syllable-names
EXTRACT_GRAMMAR = [False] # set by --extract-grammar
COMPOSED_FRAMES = [False] # set by --composed-frames
UNK_VERB_SHARE = [0.0]    # set by --unk-verb-share
HELDOUT_SET = ["v1"]      # set by --heldout-set
FOLD_DEV = [False]        # set by --fold-dev
WRITTEN_FRAMES = [False]  # set by --written-frames
WRITTEN_CHAT = [False]    # set by --written-chat
WRITTEN_BATCHES = []      # modules written_frames_<x>, set by --written-batches
BATCH_LETTERS = "bcdefgh" # the <x> of the written_frames_<x>.py there are
VERB_SYNONYMS = [0.0]     # set by --verb-synonyms
WRITTEN_SHARE = [0.0]     # set by --written-share
_WORDNET = []
_HELD_NORMS = set()
_COMBO_POOLS = (ROOMS, DEVICES, SHOP_ITEMS, TIMER_LABELS, ALARM_LABELS)
_HELDOUT_VALUES = [" %s " % v for pool in _SLOT_POOLS for v in pool[1]]


def _combo(rng, value, pool):
    while True:
        r = rng.random()
        if r < 0.35:
            parts = [_fresh_word(rng), value]
        elif r < 0.7:
            parts = [value, _fresh_word(rng)]
        else:
            other = rng.choice(pool[0])
            parts = [other, value] if rng.random() < 0.5 else [value, other]
        v = " ".join(parts)
        if len(v.split(" ")) <= 3 and parts[0] != parts[1] and not _joins_heldout(v, parts):
            return v


def _joins_heldout(v, parts):
    """Whether joining the parts made a held-out value ("upstairs" +
    "bathroom"); one already inside a part is a training value in another
    role ("potatoes" is a training item and a held-out timer label)."""
    return any(h in " %s " % v and not any(h in " %s " % p for p in parts) for h in _HELDOUT_VALUES)


def _pick(rng, pool, split):
    v = rng.choice(pool[split])
    if split == 0 and rng.random() < NOVEL_SHARE[0]:
        if COMBO_SHARE[0] and any(pool is c for c in _COMBO_POOLS) and rng.random() < COMBO_SHARE[0]:
            return _combo(rng, v, pool)
        # Dictionary words as names read like the rest of the sentence
        # ("Coauthored"), which muddles entity extraction: names may keep
        # invented spellings.
        v = _novel(rng, v, not (SYLLABLE_NAMES[0] and (pool is FIRST or pool is LAST)))
    return v


def _cap(s):
    return " ".join(w[0].upper() + w[1:] for w in s.split(" "))


def _person(rng, split):
    r = rng.random()
    if r < 0.4:
        return _pick(rng, FIRST, split)
    return _pick(rng, FIRST, split) + " " + _pick(rng, LAST, split)


def _place(rng, split):
    return _pick(rng, CITIES if rng.random() < 0.7 else PLACES_EXTRA, split)


def make_tool_example(rng, split, intent):
    """One request: returns (slots, template key, call or None, result, answer)."""
    p = lambda pool: _pick(rng, pool, split)  # noqa: E731
    slots, call, result, answer = {}, None, None, None
    key = intent
    if intent == "set_timer":
        if rng.random() < 0.3:
            key = "set_timer_label"
            slots["label"] = p(TIMER_LABELS)
        slots["dur"], sec = duration(rng)
        args = {"duration_seconds": sec}
        if "label" in slots:
            args["label"] = slots["label"]
        call = ("set_timer", args)
        result = {"ok": True, "id": rng.randint(1, 9), "duration_seconds": sec}
        what = ("the %s timer" % slots["label"]) if "label" in slots else "a timer"
        answer = rng.choice(["Okay, %s is set for %s.", "Done, %s for %s."]) % (what, say_duration(sec))
    elif intent == "cancel_timer":
        if rng.random() < 0.5:
            key = "cancel_timer_label"
            slots["label"] = p(TIMER_LABELS)
            call = ("cancel_timer", {"label": slots["label"]})
            if rng.random() < 0.2:
                result = {"error": "no timer named %s" % slots["label"]}
                answer = "Sorry, there's no timer named %s." % slots["label"]
            else:
                result = {"ok": True, "cancelled": slots["label"]}
                answer = "The %s timer is cancelled." % slots["label"]
        else:
            call = ("cancel_timer", {})
            result = {"ok": True}
            answer = "Timer cancelled."
    elif intent == "list_timers":
        call = ("list_timers", {})
        n = rng.randint(0, 2)
        timers = [{"label": p(TIMER_LABELS), "seconds_left": rng.randint(5, 3000)} for _ in range(n)]
        result = {"timers": timers}
        if not timers:
            answer = "You have no timers running."
        else:
            answer = " ".join("The %s timer has %s left." % (t["label"], say_duration(t["seconds_left"]))
                              for t in timers)
    elif intent == "set_alarm":
        if rng.random() < 0.25:
            key = "set_alarm_label"
            slots["label"] = p(ALARM_LABELS)
        slots["time"], hhmm = clock(rng)
        args = {"time": hhmm}
        if "label" in slots:
            args["label"] = slots["label"]
        call = ("set_alarm", args)
        result = {"ok": True, "time": hhmm}
        answer = "Alarm set for %s." % hhmm
    elif intent == "add_note":
        slots["note"] = p(NOTES)
        call = ("add_note", {"text": slots["note"]})
        result = {"ok": True}
        answer = rng.choice(["Noted.", "Got it, I saved the note.", "Saved."])
    elif intent in ("list_add", "list_remove", "list_read"):
        lst = "shopping" if rng.random() < 0.6 else "todo"
        key = "%s_%s" % (intent, lst)
        item = p(SHOP_ITEMS) if lst == "shopping" else p(TODO_ITEMS)
        slots["item" if lst == "shopping" else "todo"] = item
        if intent == "list_read":
            call = ("list_read", {"list": lst})
            items = [p(SHOP_ITEMS) if lst == "shopping" else p(TODO_ITEMS) for _ in range(rng.randint(0, 3))]
            items = list(dict.fromkeys(items))
            result = {"list": lst, "items": items}
            answer = ("Your %s list is empty." % lst if not items else
                      "On your %s list: %s." % (lst, ", ".join(items)))
        else:
            call = (intent, {"list": lst, "item": item})
            result = {"ok": True}
            answer = ("Added %s to your %s list." if intent == "list_add" else
                      "Removed %s from your %s list.") % (item, lst)
    elif intent == "calculate":
        return make_calc(rng, split)
    elif intent == "set_light":
        room = p(ROOMS)
        slots["room"] = room
        r = rng.random()
        if r < 0.4:
            key, args, answer = "light_on", {"room": room, "state": "on"}, "The %s lights are on." % room
        elif r < 0.75:
            key, args, answer = "light_off", {"room": room, "state": "off"}, "The %s lights are off." % room
        else:
            pct = rng.choice(list(range(5, 100, 5)) + [1, 10, 20, 30, 40, 50])
            slots["pct"] = num(rng, pct, 0.3)
            key, args = "light_dim", {"room": room, "state": "on", "brightness": pct}
            answer = "The %s lights are at %d percent." % (room, pct)
        call = ("set_light", args)
        result = {"ok": True}
        if rng.random() < 0.1:
            result = {"error": "unknown room %s" % room}
            answer = "Sorry, I couldn't find a room called %s." % room
    elif intent == "set_switch":
        dev = p(DEVICES)
        slots["device"] = dev
        on = rng.random() < 0.5
        key = "switch_on" if on else "switch_off"
        call = ("set_switch", {"device": dev, "state": "on" if on else "off"})
        result = {"ok": True}
        answer = "The %s is %s." % (dev, "on" if on else "off")
        if rng.random() < 0.1:
            result = {"error": "device %s not found" % dev}
            answer = "Sorry, I couldn't find the %s." % dev
    elif intent == "set_thermostat":
        t = rng.randint(15, 28)
        half = rng.random() < 0.15
        temp = t + 0.5 if half else t
        slots["temp"] = ("%s.5" % t) if half else num(rng, t, 0.35)
        args = {}
        if rng.random() < 0.4:
            key = "thermostat_room"
            slots["room"] = p(ROOMS)
            args["room"] = slots["room"]
        else:
            key = "thermostat"
        args["temperature"] = temp
        call = ("set_thermostat", args)
        result = {"ok": True, "temperature": temp}
        answer = "Thermostat set to %s degrees." % (("%g" % temp))
    elif intent == "set_cover":
        room = p(COVER_ROOMS)
        slots["room"] = room
        r = rng.random()
        if r < 0.4:
            key, pos = "cover_open", 100
            answer = "Opening the %s blinds." % room
        elif r < 0.8:
            key, pos = "cover_close", 0
            answer = "Closing the %s blinds." % room
        else:
            pos = rng.choice(range(10, 100, 10))
            key = "cover_pos"
            slots["pct"] = num(rng, pos, 0.3)
            answer = "The %s blinds are at %d percent." % (room, pos)
        call = ("set_cover", {"room": room, "position": pos})
        result = {"ok": True, "position": pos}
    elif intent == "get_weather":
        day = rng.choice(["today", "tomorrow", "today", "tomorrow"] + DAYS)
        slots["day"] = {"today": rng.choice(["today", "today", "now"]),
                        "tomorrow": "tomorrow"}.get(day, "on " + day)
        args = {}
        if rng.random() < 0.7:
            key = "weather"
            slots["city"] = p(CITIES)
            args["place"] = slots["city"]
        else:
            key = "weather_here"
        args["day"] = day
        call = ("get_weather", args)
        cond = rng.choice(["sunny", "cloudy", "rain", "light rain", "snow", "windy", "partly cloudy", "fog"])
        hi = rng.randint(-5, 35)
        lo = hi - rng.randint(2, 12)
        place = args.get("place", rng.choice(["home"]))
        result = {"place": place, "day": day, "condition": cond, "high_c": hi, "low_c": lo}
        answer = "%s in %s: %s, high %d, low %d degrees." % (_cap(day), place, cond, hi, lo)
    elif intent == "get_time":
        call = ("get_time", {})
        hhmm = "%02d:%02d" % (rng.randint(0, 23), rng.randint(0, 59))
        result = {"time": hhmm}
        answer = rng.choice(["It's %s.", "The time is %s."]) % hhmm
    elif intent == "get_date":
        call = ("get_date", {})
        d = rng.choice(DAYS)
        mo = rng.choice(["january", "february", "march", "april", "may", "june", "july", "august",
                         "september", "october", "november", "december"])
        dd = rng.randint(1, 28)
        result = {"date": "2025-%02d-%02d" % (rng.randint(1, 12), dd), "weekday": d}
        answer = "Today is %s, %s." % (_cap(d), result["date"])
        del mo
    else:
        raise ValueError(intent)
    return key, slots, call, result, answer


OPS = [("plus", "+"), ("+", "+"), ("minus", "-"), ("-", "-"), ("times", "*"), ("x", "*"),
       ("multiplied by", "*"), ("divided by", "/"), ("over", "/")]


def make_calc(rng, split):
    if rng.random() < 0.2:
        a = rng.choice([5, 10, 15, 20, 25, 12, 18, 30, 50, 75])
        b = rng.randint(2, 500)
        slots = {"a": str(a) if rng.random() < 0.7 else words(a), "b": num(rng, b)}
        expr = "%d * %d / 100" % (b, a)
        val = b * a / 100
        return "percent", slots, ("calculate", {"expression": expr}), {"result": _fmt(val)}, \
            "%s percent of %d is %s." % (a, b, _fmt(val))
    word, sym = rng.choice(OPS)
    a = rng.randint(0, 999) if rng.random() < 0.5 else rng.randint(1, 30)
    b = rng.randint(1, 999) if rng.random() < 0.5 else rng.randint(1, 30)
    if rng.random() < 0.1:
        a = a + rng.choice([0.5, 0.25, 0.1])
    slots = {"a": num(rng, a) if isinstance(a, int) else str(a), "b": num(rng, b), "op": word}
    expr = "%s %s %s" % (a, sym, b)
    val = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b}[sym]()
    return "calculate", slots, ("calculate", {"expression": expr}), {"result": _fmt(val)}, \
        "%s is %s." % (expr.replace("*", "times").replace("/", "divided by"), _fmt(val))


def _fmt(v):
    if abs(v - round(v)) < 1e-9:
        return str(int(round(v)))
    return ("%.4f" % v).rstrip("0")


INTENT_WEIGHTS = [("set_timer", 10), ("cancel_timer", 4), ("list_timers", 3), ("set_alarm", 8),
                  ("add_note", 5), ("list_add", 8), ("list_remove", 4), ("list_read", 4),
                  ("calculate", 7), ("set_light", 10), ("set_switch", 7), ("set_thermostat", 6),
                  ("set_cover", 6), ("get_weather", 8), ("get_time", 3), ("get_date", 3)]


_TRAIN_T = {}
# "refuse" and "chat" frames are bare wrappers ("{req}"); their contents
# (OUT_OF_SCOPE, CHAT) are checked instead.
_OWN_FRAMES = [k for k in T if k not in ("refuse", "chat")]


def _folded(key):
    """--fold-dev: the first held-out set's frames of this key are training frames."""
    return FOLD_DEV[0] and key in heldout_v2.FRAMES


def heldout_frames(with_v2=True):
    """Every held-out sentence frame of both held-out sets (v1 and v2; v1's folded keys not),
    out-of-scope request and chat phrase: training contains none of them."""
    return [f for k in _OWN_FRAMES if not _folded(k) for f in T[k][1]] \
        + [f for fs in heldout_v2.FRAMES.values() if with_v2 for f in fs] + OUT_OF_SCOPE[1] + [c for c, _ in CHAT[1]]


def heldout_templates(key):
    """The held-out frames a held-out item of this key is drawn from."""
    if HELDOUT_SET[0] == "v2" and key in heldout_v2.FRAMES:
        return heldout_v2.FRAMES[key]
    return T[key][1]


_COMPOSED_T = {}
_UNK_OK = set()
_WRITTEN_SPLIT = {}  # key -> (its training frames only written batches have, the others)


def _unknown_verb_frames(cores):
    """Training cores whose first word may become a word the model never saw.

    A user's verb the model does not know ("strike milk from the list") was
    copied into the value: in training every unseen word was a value. Where
    the rest of a frame fixes the call whatever its first word (the same
    remainder follows two or more different verbs, all of one key: "{item}
    from the shopping list"), an invented first word keeps the call right and
    teaches that an unknown verb is not part of the value. Frames whose verb
    decides the call ("activate/kill the {room} lights") never qualify; a
    particle after it may decide instead ("turn on the {room} lights": "on the
    {room} lights" is always on).
    """
    def rest(c):
        # tails stripped: "{v} the {room} {l} please" exists for "on" only, but
        # "the {room} lights please" does not say on
        w = c.split(" ", 1)
        return home_phrases._norm(w[1]) if len(w) == 2 and w[0].isalpha() and "{" in w[1] else None

    rests = {c: rest(c) for lst in cores.values() for c in lst}
    keys, firsts = {}, {}
    for k, lst in cores.items():
        for c in lst:
            if rests[c]:
                keys.setdefault(rests[c], set()).add(k.lstrip("+"))
                firsts.setdefault(rests[c], set()).add(c.split(" ", 1)[0])
    return {c for c, r in rests.items() if r and len(keys[r]) == 1 and len(firsts[r]) >= 2}


def train_frames():
    """Training frames per key: the hand-written ones plus home_phrases'
    grammar, minus anything matching a held-out frame (see home_phrases)."""
    if not _TRAIN_T:
        # the composed extraction frames only with --extract-grammar: their
        # words would otherwise leave the dictionary, changing earlier data
        grammar = {k: v for k, v in home_phrases.CORES.items() if k != "extract" or EXTRACT_GRAMMAR[0]}
        own = {k: T[k][0] + (T[k][1] if _folded(k) else []) + grammar.get(k, []) for k in _OWN_FRAMES}
        written = {k: (written_frames.FRAMES.get(k, []) if WRITTEN_FRAMES[0] else [])
                   + [f for m in WRITTEN_BATCHES for f in m.FRAMES.get(k, [])] for k in _OWN_FRAMES}
        cores = {k: own[k] + written[k] for k in _OWN_FRAMES}
        chat = CHAT[0] + home_phrases.CHAT_EXTRA + (written_frames.CHAT if WRITTEN_CHAT[0] else [])
        cores["oos"] = OUT_OF_SCOPE[0] + home_phrases.oos_requests() \
            + (written_frames.OOS if WRITTEN_CHAT[0] else [])
        cores["chat"] = [c for c, _ in chat]
        if COMPOSED_FRAMES[0]:
            cores.update({"+" + k: v for k, v in home_phrases.COMPOSED.items()})
        cores, dropped = home_phrases.check_disjoint(cores, heldout_frames())
        for k in [k for k in cores if k.startswith("+")]:
            _COMPOSED_T[k[1:]] = cores.pop(k)
        tool_cores = {k: v for k, v in cores.items() if k in _OWN_FRAMES and k != "extract"}
        tool_cores.update({"+" + k: v for k, v in _COMPOSED_T.items()})
        _UNK_OK.update(_unknown_verb_frames(tool_cores))
        replies = dict(chat)
        cores["chat"] = [(c, replies[c]) for c in cores["chat"]]
        cores["refuse"] = T["refuse"][0]
        _TRAIN_T.update(cores)
        for k in _OWN_FRAMES:
            w = set(written[k]) - set(own[k])
            _WRITTEN_SPLIT[k] = ([f for f in cores[k] if f in w], [f for f in cores[k] if f not in w])
        _TRAIN_T["dropped"] = dropped
    return _TRAIN_T


def _verb_synonym(rng, core):
    """core with its opening verb swapped for a WordNet synonym (synonyms.py: words the
    templates never use, "shut" for "close", "halt" for "stop"), unless that makes a
    held-out frame or the verb has none."""
    if not _WORDNET:
        if not synonyms.available():
            sys.exit("gen_home_data: --verb-synonyms needs WordNet (apt-get install wordnet-base)")
        _WORDNET.append(synonyms.WordNet())
    if not _HELD_NORMS:
        _HELD_NORMS.update(home_phrases._norm(f) for f in heldout_frames())
    swapped = _WORDNET[0].swap_verb(rng, core)
    return swapped if swapped and home_phrases._norm(swapped) not in _HELD_NORMS else core


def user_turn(rng, split, key, slots, noisy):
    if split == 0:
        frames = train_frames()[key]
        extra = _COMPOSED_T.get(key)
        # composed frames at most half of a key's requests: they outnumber the hand-written ones
        if extra and rng.random() < min(0.5, len(extra) / (len(extra) + len(frames))):
            frames = extra
        elif WRITTEN_SHARE[0]:
            # thousands of written frames would otherwise crowd out the grammar's few dozen
            # in a small kind (add_note: 28 of 203 with every batch): draw from the written ones this often
            mine, rest = _WRITTEN_SPLIT.get(key, ((), ()))
            if mine and rest:
                frames = mine if rng.random() < WRITTEN_SHARE[0] else rest
        core = rng.choice(frames)
        if UNK_VERB_SHARE[0] and core in _UNK_OK and rng.random() < UNK_VERB_SHARE[0]:
            core = _fresh_word(rng) + " " + core.split(" ", 1)[1]
        elif VERB_SYNONYMS[0] and rng.random() < VERB_SYNONYMS[0]:
            core = _verb_synonym(rng, core)
        tpl = home_phrases.dress(rng, core)
    else:
        tpl = rng.choice(heldout_templates(key))
    return fill(rng, tpl, slots, noisy)


def exchange(rng, split, noise):
    """One user request and the assistant's reply (with tool round trip if any).

    Returns (messages, info) where info describes the expected first reply.
    """
    r = rng.random()
    noisy = rng.random() < noise
    if r < 0.08:
        text, reply = rng.choice(CHAT[1] if split else train_frames()["chat"])
        u = fill(rng, "{chat}", {"chat": text}, noisy) if noisy else _maybe_cap(rng, text)
        return [{"role": "user", "content": u}, {"role": "assistant", "content": reply}], {"kind": "chat"}
    if r < 0.18:
        req = rng.choice(OUT_OF_SCOPE[1] if split else train_frames()["oos"]).format(city=_pick(rng, CITIES, split),
                                                     first=_pick(rng, FIRST, split))
        u = user_turn(rng, split, "refuse", {"req": req}, noisy)
        reply = rng.choice(["Sorry, I can't help with that.",
                            "Sorry, I can't do that. I can help with timers, alarms, lists, notes, "
                            "lights, devices, the thermostat, blinds, sums and the weather.",
                            "Sorry, that's not something I can do."])
        return [{"role": "user", "content": u}, {"role": "assistant", "content": reply}], {"kind": "refusal"}
    names, weights = zip(*INTENT_WEIGHTS)
    intent = rng.choices(names, weights)[0]
    key, slots, call, result, answer = make_tool_example(rng, split, intent)
    u = user_turn(rng, split, key, slots, noisy)
    name, args = call
    msgs = [{"role": "user", "content": u},
            {"role": "assistant", "content": "", "tool_calls": [{"name": name, "arguments": args}]},
            {"role": "tool", "content": chatml.dumps(result)},
            {"role": "assistant", "content": answer}]
    return msgs, {"kind": "tool_call", "call": {"name": name, "arguments": args}}


def _maybe_cap(rng, text):
    return text[0].upper() + text[1:] + rng.choice(["", "", "!", "."]) if rng.random() < 0.4 else text


def extraction(rng, split):
    tpl = rng.choice(train_frames()["extract"] if EXTRACT_GRAMMAR[0] and not split else T["extract"][split])
    slots, people, places = {}, [], []
    cap = rng.random() < 0.6
    for piece in _split_template(tpl):
        if not piece.startswith("{"):
            continue
        k = piece[1:-1]
        if k in slots:
            continue
        v = _person(rng, split) if k[0] == "p" else _place(rng, split)
        while v in slots.values():
            v = _person(rng, split) if k[0] == "p" else _place(rng, split)
        if cap:
            v = _cap(v)
        slots[k] = v
        (people if k[0] == "p" else places).append(v)
    text = "".join(slots[x[1:-1]] if x.startswith("{") else x for x in _split_template(tpl))
    if cap:
        text = text[0].upper() + text[1:]
    else:
        text = text.lower().rstrip(".?")
    ents = {"people": people, "places": places}
    msgs = [{"role": "system", "content": EXTRACT_PROMPT}, {"role": "user", "content": text},
            {"role": "assistant", "content": chatml.dumps(ents)}]
    return msgs, {"kind": "entities", "entities": ents}


def conversation(rng, split, noise=0.3, entity_share=0.12):
    """A whole training conversation: system + 1-3 exchanges, or an extraction."""
    if rng.random() < entity_share:
        msgs, info = extraction(rng, split)
        return {"kind": info["kind"], "messages": msgs, "toolset": "none"}
    msgs = [{"role": "system", "content": SYSTEM_PROMPT}]
    n = 1 if rng.random() < 0.65 else rng.choice([2, 2, 3])
    kinds = []
    for _ in range(n):
        m, info = exchange(rng, split, noise)
        msgs += m
        kinds.append(info["kind"])
    return {"kind": "+".join(kinds), "messages": msgs, "toolset": "home"}


# Training lines name their tool set instead of repeating the schemas.
TOOLSETS = {"none": [], "home": TOOLS}


def heldout_item(rng, idx):
    """One evaluation item: the prompt messages and the expected reply."""
    r = rng.random()
    if r < 0.12:
        msgs, info = extraction(rng, 1)
        # As an application asks for extraction through the API: with a
        # response_format, so the server guards the reply's JSON.
        return {"id": idx, "kind": "entities", "messages": msgs[:-1], "tools": [],
                "response_format": ENTITY_FORMAT, "expected": {"entities": info["entities"]}}
    history = []
    if rng.random() < 0.2:
        m, _ = exchange(rng, 1, 0.3)
        history = m
    m, info = exchange(rng, 1, 0.3)
    sys_msg = [{"role": "system", "content": SYSTEM_PROMPT}]
    if info["kind"] == "tool_call" and rng.random() < 0.15:
        # Answer in words once the tool result is in: the reply must carry the
        # values the result holds (checked as substrings).
        result = json.loads(m[2]["content"])
        must = [str(v) for k, v in result.items() if k in ("time", "high_c", "low_c", "result")]
        return {"id": idx, "kind": "tool_answer", "messages": sys_msg + history + m[:3], "tools": TOOLS,
                "expected": {"text_contains": must, "no_tool_call": True}}
    item = {"id": idx, "kind": info["kind"], "messages": sys_msg + history + m[:1], "tools": TOOLS}
    if info["kind"] == "tool_call":
        item["expected"] = {"tool_calls": [info["call"]]}
    elif info["kind"] == "refusal":
        item["expected"] = {"refusal": True}
    else:
        item["expected"] = {"no_tool_call": True}
    return item


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=60000)
    ap.add_argument("--heldout", type=int, default=400)
    ap.add_argument("--heldout-out", help="held-out file path (default OUT/heldout.jsonl)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--novel-share", type=float, default=0.3,
                    help="share of training slot values made of invented words")
    ap.add_argument("--letter-share", type=float, default=0.5,
                    help="share of invented words spelled letter by letter (else from syllables)")
    ap.add_argument("--dict-share", type=float, default=0.0,
                    help="share of invented words taken from a dictionary of real words (see _dict_words)")
    ap.add_argument("--combo-share", type=float, default=0.0,
                    help="share of invented room/device/item/label values that join a known value "
                         "to a fresh word or to another known value (see _combo)")
    ap.add_argument("--syllable-names", action="store_true",
                    help="invented names never come from the dictionary")
    ap.add_argument("--extract-grammar", action="store_true",
                    help="training extraction sentences from home_phrases' composed frames "
                         "(else T['extract']'s hand-written ones only)")
    ap.add_argument("--entity-share", type=float, default=0.12,
                    help="share of training conversations that are entity extraction")
    ap.add_argument("--composed-frames", action="store_true",
                    help="also train on home_phrases.COMPOSED (labels anywhere, positive twins of negations)")
    ap.add_argument("--unk-verb-share", type=float, default=0.0,
                    help="share of eligible training requests whose first word is invented "
                         "(see _unknown_verb_frames)")
    ap.add_argument("--heldout-set", choices=["v1", "v2"], default="v1",
                    help="held-out frames: v1 (gen_home_data.T, also read to diagnose misses) or "
                         "v2 (heldout_v2.py, written blind and only measured)")
    ap.add_argument("--fold-dev", action="store_true",
                    help="train on the first held-out set's request frames too, of every key the "
                         "second set covers (its values, chat and refusal phrasings stay held out); "
                         "needs --heldout-set v2")
    ap.add_argument("--written-frames", action="store_true",
                    help="also train on written_frames.py (phrasings written blind to both held-out sets)")
    ap.add_argument("--written-batches", nargs="+", default=[], choices=list(BATCH_LETTERS),
                    help="also train on these further batches of written frames (written_frames_b.py "
                         "to _h: three more authors each, as blind)")
    ap.add_argument("--written-chat", action="store_true",
                    help="also train on written_frames.CHAT and .OOS (small talk, requests to refuse)")
    ap.add_argument("--written-share", type=float, default=0.0,
                    help="share of a kind's requests drawn from its written frames (0: as many as "
                         "their number among all its frames)")
    ap.add_argument("--verb-synonyms", type=float, default=0.0,
                    help="share of training requests whose opening verb becomes a WordNet synonym")
    a = ap.parse_args()
    if a.fold_dev and a.heldout_set != "v2":
        ap.error("--fold-dev trains on the first held-out set: evaluate with --heldout-set v2")
    FOLD_DEV[0] = a.fold_dev
    WRITTEN_FRAMES[0] = a.written_frames
    VERB_SYNONYMS[0] = a.verb_synonyms
    WRITTEN_SHARE[0] = a.written_share
    WRITTEN_CHAT[0] = a.written_chat
    WRITTEN_BATCHES[:] = [importlib.import_module("written_frames_" + b) for b in a.written_batches]
    COMPOSED_FRAMES[0] = a.composed_frames
    UNK_VERB_SHARE[0] = a.unk_verb_share
    HELDOUT_SET[0] = a.heldout_set
    NOVEL_SHARE[0] = a.novel_share
    LETTER_SHARE[0] = a.letter_share
    DICT_SHARE[0] = a.dict_share
    COMBO_SHARE[0] = a.combo_share
    SYLLABLE_NAMES[0] = a.syllable_names
    EXTRACT_GRAMMAR[0] = a.extract_grammar
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    with open(os.path.join(a.out, "train.jsonl"), "w") as f:
        for _ in range(a.train):
            f.write(json.dumps(conversation(rng, 0, entity_share=a.entity_share)) + "\n")
    rng = random.Random(a.seed + 1)
    path = a.heldout_out or os.path.join(a.out, "heldout.jsonl")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        for i in range(a.heldout):
            f.write(json.dumps(heldout_item(rng, i)) + "\n")
    print("wrote %d training conversations to %s, %d held-out items to %s"
          % (a.train, a.out, a.heldout, path))


if __name__ == "__main__":
    main()
