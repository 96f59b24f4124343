"""home_phrases.py — the training grammar of Hearth's home-assistant requests.

A model trained from scratch knows only the English it is shown. With a
dozen sentences per intent it learns those sentences, and a user who says
"power up the kettle" instead of "turn on the kettle" gets a wrong call. So
the training side of gen_home_data.py draws each request from a grammar:
an optional lead-in ("could you", "hey hearth") + a core phrase from broad
lists of the verbs and sentence frames people use for each action + an
optional tail ("please", "for me"). Verbs are shared across the objects they
fit (lights, devices, blinds, heating), so the model learns a verb's meaning
once and applies it everywhere.

The held-out evaluation keeps its own hand-written sentence frames in
gen_home_data.T[key][1]. check_disjoint() drops any training core that,
with lead-ins and tails stripped, equals a held-out frame of any intent, so
no held-out sentence frame is ever trained on, even dressed in fillers. The
held-out set's words are common English and may appear in training in other
frames; its slot values (rooms, devices, cities, items, names) never do.
"""

import itertools

LEADS = ["please ", "can you ", "could you ", "could you please ", "would you ", "hey hearth ",
         "hearth ", "hey hearth, ", "ok hearth ", "i'd like you to ", "i want you to ", "go ahead and ",
         "quickly ", "hey, ", "um ", "uh ", "so ", "ok ", "okay ", "right, ", "now ",
         "do me a favor and ", "can you please ", "will you ",
         "hearth, please ", "just ", "oh and ", "and "]
TAILS = [" please", " now", " for me", " thanks", " thank you", " right now", " if you can",
         " please hearth", " asap", " when you can", " thanks hearth", " ok", " quickly"]


def _x(frames, **lists):
    """Expand frames over word lists: _x(["{v} the {room} lights"], v=["turn on", ...])."""
    out = []
    for f in frames:
        keys = [k for k in lists if "{%s}" % k in f]
        for combo in itertools.product(*(lists[k] for k in keys)):
            s = f
            for k, v in zip(keys, combo):
                s = s.replace("{%s}" % k, v)
            out.append(s)
    return out


# Verbs by meaning. Light, device, cover and heating frames share them.
ON = ["turn on", "switch on", "put on", "power on", "power up", "activate", "enable",
      "fire up", "start", "start up", "boot up", "bring up", "flip on", "click on", "kick on"]
OFF = ["turn off", "switch off", "power off", "power down", "shut off", "shut down", "deactivate",
       "disable", "kill", "cut", "stop", "flip off", "click off", "cut off", "turn out"]
OPEN = ["open", "raise", "lift", "pull up", "roll up", "draw back", "open up", "put up"]
CLOSE = ["close", "lower", "shut", "pull down", "roll down", "draw", "drop", "let down"]
LIGHTS = ["lights", "light", "lamps", "lamp", "lighting", "ceiling light"]
COVERS = ["blinds", "curtains", "shutters", "shades", "drapes", "blind", "roller blinds"]
HEAT = ["thermostat", "heating", "temperature", "heat", "heater"]

CORES = {}

CORES["light_on"] = _x([
    "{v} the {room} {l}", "{v} the {l} in the {room}", "{v} the {room} {l} please",
    "{room} {l} on", "turn the {room} {l} on", "switch the {room} {l} on", "put the {l} on in the {room}",
    "get the {l} on in the {room}", "{l} on in the {room}", "i need the {room} {l} on",
    "light up the {room}", "brighten the {room}", "make the {room} bright", "it's dark in the {room}",
    "i can't see in the {room}", "the {room} is too dark", "can i get some light in the {room}",
    "lights in the {room} on", "{room}, {l} on", "bring the {l} up in the {room}",
    "illuminate the {room} {l}", "i want light in the {room}", "give me some light in the {room}",
], v=ON, l=LIGHTS)
CORES["light_off"] = _x([
    "{v} the {room} {l}", "{v} the {l} in the {room}", "{room} {l} off", "turn the {room} {l} off",
    "switch the {room} {l} off", "{l} off in the {room}", "i don't need the {room} {l}",
    "no {l} in the {room}", "the {room} {l} can go off", "lights out in the {room}",
    "make the {room} dark", "kill the {room} {l}", "{room}, {l} off", "get the {room} {l} off",
    "nobody's in the {room}, {l} off", "i'm leaving the {room}, turn the {l} off",
], v=OFF, l=LIGHTS)
CORES["light_dim"] = _x([
    "set the {room} {l} to {pct} percent", "dim the {room} {l} to {pct} percent",
    "{room} {l} {pct} percent", "set the {l} in the {room} to {pct}%", "brightness {pct} percent in the {room}",
    "dim the {room} {l} to {pct}", "{room} {l} to {pct}%", "make the {room} {l} {pct} percent",
    "change the {room} {l} to {pct} percent", "turn the {room} {l} to {pct} percent",
    "put the {room} {l} on {pct} percent", "{room} brightness {pct}", "brighten the {room} to {pct} percent",
    "set {room} brightness to {pct} percent", "turn the {l} in the {room} down to {pct} percent",
    "turn the {l} in the {room} up to {pct} percent", "{l} at {pct} percent in the {room}",
    "can the {room} {l} be {pct} percent", "bring the {room} {l} to {pct} percent",
], l=LIGHTS)
CORES["switch_on"] = _x([
    "{v} the {device}", "{v} my {device}", "turn the {device} on", "switch the {device} on",
    "{device} on", "put the {device} on", "get the {device} started", "get the {device} running",
    "set the {device} going", "i want the {device} on", "the {device} needs to be on",
    "the {device}, turn it on", "can we have the {device} on", "start the {device} up",
    "power the {device} on", "{device} on please", "get the {device} on",
], v=[v for v in ON if v not in ("fire up", "enable", "start up")])
CORES["switch_off"] = _x([
    "{v} the {device}", "{v} my {device}", "turn the {device} off", "switch the {device} off",
    "{device} off", "i don't need the {device} anymore", "the {device} can go off",
    "the {device}, turn it off", "power the {device} off", "get the {device} off",
    "stop the {device} running", "{device} off please", "i want the {device} off",
], v=[v for v in OFF if v not in ("shut down", "disable", "kill", "turn out")])
CORES["cover_open"] = _x([
    "{v} the {room} {c}", "{v} the {c} in the {room}", "{room} {c} up", "{c} up in the {room}",
    "let some light into the {room}", "let the sun into the {room}", "open the {room} {c} all the way",
    "{room} {c} open", "i want the {room} {c} open", "get the {room} {c} open",
], v=OPEN, c=COVERS)
CORES["cover_close"] = _x([
    "{v} the {room} {c}", "{v} the {c} in the {room}", "{room} {c} down", "{c} down in the {room}",
    "keep the sun out of the {room}", "{room} {c} closed", "i want the {room} {c} closed",
    "get the {room} {c} shut", "give me some privacy in the {room}", "close the {room} {c} all the way",
], v=CLOSE, c=COVERS)
CORES["cover_pos"] = _x([
    "set the {room} {c} to {pct} percent", "open the {room} {c} {pct} percent",
    "{room} {c} to {pct}%", "move the {c} in the {room} to {pct} percent",
    "{c} in the {room} at {pct} percent", "put the {room} {c} at {pct} percent",
    "raise the {room} {c} to {pct} percent", "lower the {room} {c} to {pct} percent",
    "adjust the {room} {c} to {pct} percent", "{room} {c} {pct} percent open",
], c=COVERS)
CORES["thermostat"] = _x([
    "set the {h} to {temp}", "set the {h} to {temp} degrees", "make it {temp} degrees",
    "heat to {temp}", "{h} {temp}", "i want it at {temp} degrees", "change the {h} to {temp}",
    "turn the {h} to {temp}", "put the {h} on {temp}", "{h} to {temp} degrees",
    "raise the {h} to {temp}", "lower the {h} to {temp} degrees", "turn the {h} up to {temp}",
    "turn the {h} down to {temp}", "set it to {temp} degrees", "i'd like {temp} degrees",
    "make the house {temp} degrees", "keep the house at {temp}", "heat the house to {temp} degrees",
    "{temp} degrees please", "it's cold, set the {h} to {temp}", "it's too warm, {h} to {temp}",
    "warm it up to {temp} degrees", "cool it down to {temp}", "can it be {temp} degrees in here",
], h=HEAT)
CORES["thermostat_room"] = _x([
    "set the {room} to {temp} degrees", "make the {room} {temp} degrees",
    "set the {h} in the {room} to {temp}", "{room} {h} {temp}", "heat the {room} to {temp}",
    "{room} {h} to {temp} degrees", "set the {room} {h} to {temp}", "i want the {room} at {temp} degrees",
    "raise the {room} {h} to {temp}", "turn the {room} {h} down to {temp}", "{room} to {temp} degrees",
    "keep the {room} at {temp}", "warm up the {room} to {temp} degrees", "cool the {room} to {temp}",
], h=HEAT)
CORES["set_timer"] = [
    "set a timer for {dur}", "set a {dur} timer", "timer for {dur}", "start a timer for {dur}",
    "set timer {dur}", "i need a timer for {dur}", "start a {dur} countdown", "put a timer on for {dur}",
    "give me a {dur} timer", "countdown {dur}", "remind me in {dur}", "a timer for {dur}",
    "{dur} timer", "timer {dur}", "make a {dur} timer", "make a timer for {dur}", "create a {dur} timer",
    "count down {dur}", "count down from {dur}", "start counting down {dur}", "begin a {dur} timer",
    "run a {dur} timer", "start the clock for {dur}", "tell me when {dur} is up", "alert me in {dur}",
    "let me know in {dur}", "ping me in {dur}", "buzz me in {dur}", "wake me in {dur}",
    "set a countdown for {dur}", "time me for {dur}", "i need {dur} on the clock", "{dur} countdown",
    "set the timer to {dur}", "put {dur} on the timer", "start timing {dur}", "go off in {dur}",
    "alarm in {dur}", "remind me after {dur}", "notify me in {dur}", "timer set {dur}",
]
CORES["set_timer_label"] = [
    "set a {label} timer for {dur}", "set a timer for {dur} for the {label}", "{label} timer {dur}",
    "start a {dur} timer called {label}", "timer for the {label} {dur}", "set a {dur} timer for {label}",
    "name a timer {label} for {dur}", "{dur} for the {label}", "set a timer called {label} for {dur}",
    "start a {label} timer for {dur}", "{label} countdown {dur}", "a {dur} {label} timer",
    "the {label} needs {dur}, start a timer", "the {label} needs {dur}", "timer named {label}, {dur}",
    "{label} in {dur}, set a timer", "start the {label} timer, {dur}", "count down {dur} for the {label}",
    "remind me about the {label} in {dur}", "{dur} timer for the {label}", "label a {dur} timer {label}",
    "make a {label} countdown of {dur}", "create a timer for the {label}, {dur}",
]
CORES["cancel_timer"] = [
    "cancel the timer", "stop the timer", "delete the timer", "turn off the timer", "cancel my timer",
    "never mind the timer", "kill the timer", "remove the timer", "end the timer", "clear the timer",
    "stop my timer", "switch off the timer", "i don't need the timer anymore", "drop the timer",
    "cancel it, the timer", "no more timer", "cancel the countdown", "stop the countdown",
    "delete my countdown", "call off the timer", "the timer can go", "timer off", "stop counting down",
]
CORES["cancel_timer_label"] = [
    "cancel the {label} timer", "stop the {label} timer", "delete the {label} timer", "cancel timer {label}",
    "turn off the {label} timer", "end the {label} timer", "remove the {label} timer",
    "i don't need the {label} timer", "kill the {label} timer", "clear the {label} countdown",
    "stop the {label} countdown", "cancel the timer for the {label}", "the {label} timer can go",
    "{label} timer off", "call off the {label} timer", "drop the {label} timer",
]
CORES["list_timers"] = [
    "how much time is left", "what timers are running", "list my timers", "show the timers",
    "how long is left on the timer", "any timers running", "check the timer", "how much time is left on my timer",
    "what timers do i have", "how long left", "how much longer on the timer", "is my timer still running",
    "what's left on the timer", "timer status", "read my timers", "which timers are set",
    "how much time remains", "how long until my timer is done", "are any timers on", "tell me my timers",
    "what's the timer at", "do i have a timer going", "how's my timer doing", "time left on the countdown",
]
CORES["set_alarm"] = [
    "set an alarm for {time}", "wake me up at {time}", "alarm at {time}", "set alarm {time}",
    "i need an alarm at {time}", "can you wake me at {time}", "set an alarm at {time}",
    "alarm for {time} please", "wake me at {time}", "create an alarm for {time}", "an alarm for {time}",
    "alarm {time}", "set my alarm to {time}", "set the alarm for {time}", "i need to get up at {time}",
    "i have to be up at {time}", "new alarm {time}", "add an alarm at {time}", "alarm me at {time}",
    "get me up by {time}", "make sure i'm up at {time}", "set a wake up call for {time}",
    "wake up call at {time}", "i want an alarm at {time}", "schedule an alarm for {time}",
    "ring at {time}", "start an alarm for {time}", "set an alarm to go off at {time}",
]
CORES["set_alarm_label"] = [
    "set a {label} alarm for {time}", "alarm at {time} for {label}", "wake me at {time} for {label}",
    "set an alarm called {label} at {time}", "{label} alarm at {time}", "set an alarm for {label} at {time}",
    "alarm for {label} at {time}", "i need to be up at {time} for {label}", "{label} at {time}, set an alarm",
    "wake me up for {label} at {time}", "create a {label} alarm for {time}", "an alarm at {time} called {label}",
    "set a {time} alarm for {label}", "i have {label} at {time}, wake me", "alarm named {label} at {time}",
]
CORES["add_note"] = [
    "note that {note}", "make a note that {note}", "take a note {note}", "write down {note}",
    "remember that {note}", "add a note {note}", "save a note saying {note}", "note {note}", "jot down {note}",
    "make a note: {note}", "create a note {note}", "new note {note}", "note down that {note}",
    "write a note {note}", "save this: {note}", "remember this: {note}", "add a note that {note}",
    "take a note that {note}", "write this down: {note}", "put in my notes {note}", "log a note {note}",
    "make a note saying {note}", "save a note that {note}", "note to self {note}", "jot this down {note}",
    "keep in mind that {note}", "record a note {note}", "add to my notes {note}", "don't let me forget {note}",
]
_SHOP = ["shopping", "grocery"]
CORES["list_add_shopping"] = _x([
    "add {item} to the {s} list", "put {item} on my {s} list", "we need {item}", "add {item} to my {s} list",
    "{s} list add {item}", "i need to buy {item}", "put {item} on the {s} list", "add {item} to shopping",
    "we're out of {item}", "remind me to buy {item}", "we need more {item}", "buy {item}",
    "i need {item}", "get {item} on the list", "add {item} to the list", "pick up {item}, add it to the list",
    "{item} on the {s} list", "{s} list: {item}", "add {item}", "we are out of {item}",
    "we're running low on {item}", "we ran out of {item}", "out of {item}, add it to the list",
    "{item} goes on the {s} list", "don't let me forget to buy {item}", "write {item} on the {s} list",
    "i have to get {item}", "we should buy {item}", "add some {item} to the {s} list",
    "put {item} down on the {s} list", "{s} list plus {item}", "append {item} to the {s} list",
    "stick {item} on my list", "include {item} on the list", "need to buy {item}",
    "we're low on {item}", "grab {item} next time, put it on the list", "{item} to the {s} list",
], s=_SHOP)
_TODO = ["todo", "to do", "to-do"]
CORES["list_add_todo"] = _x([
    "add {todo} to my {t} list", "put {todo} on the {t} list", "add {todo} to the {t} list",
    "{t} list add {todo}", "remind me to {todo}", "add a task {todo}", "new task {todo}",
    "i need to {todo}, put it on my {t} list", "{todo} on my {t} list", "add task: {todo}",
    "put {todo} on my tasks", "add {todo} to my tasks", "{t}: {todo}", "task: {todo}",
    "write {todo} on my {t} list", "i must {todo}, add it to the {t} list", "add to my {t} list {todo}",
    "i should {todo}, add it to my tasks", "my {t} list needs {todo}", "new {t} {todo}",
    "create a task to {todo}", "add a {t} item {todo}", "{t} list plus {todo}",
    "append {todo} to my tasks", "include {todo} on my tasks",
], t=_TODO)
CORES["list_remove_shopping"] = _x([
    "remove {item} from the {s} list", "take {item} off my {s} list", "delete {item} from the {s} list",
    "cross {item} off the {s} list", "i got the {item}, remove it from the {s} list",
    "{s} list remove {item}", "take {item} off the list", "we have {item} now, remove it from the list",
    "i bought {item}, cross it off", "{item} is bought, take it off the {s} list", "no more {item} on the list",
    "remove {item} from my {s} list", "delete {item} from my list", "we don't need {item} anymore",
    "scratch {item} from the list", "{item} off the {s} list", "get rid of {item} on the {s} list",
    "we no longer need {item}", "take off {item} from the {s} list", "erase {item} from the {s} list",
], s=_SHOP)
CORES["list_remove_todo"] = _x([
    "remove {todo} from my {t} list", "i finished {todo}, take it off the {t} list",
    "delete {todo} from the {t} list", "cross {todo} off my {t} list", "mark {todo} as done",
    "i did {todo}, remove it", "{todo} is finished", "take {todo} off my tasks", "{todo} is complete",
    "done with {todo}, cross it off", "remove the task {todo}", "delete the task {todo}",
    "mark {todo} done", "scratch {todo} from my tasks", "{todo} off my {t} list", "i managed to {todo}",
    "finished the task {todo}", "erase {todo} from the {t} list", "check off {todo}",
], t=_TODO)
CORES["list_read_shopping"] = _x([
    "what's on my {s} list", "read the {s} list", "read me my {s} list", "what do i need to buy",
    "show the {s} list", "what's on the {s} list", "what is on the {s} list", "{s} list",
    "what do we need from the store", "what's on the list for the store", "tell me what to buy",
    "read out the {s} list", "what should i buy", "show me the {s} list", "what are we out of",
    "list my {s} items", "check the {s} list", "what's left to buy", "any items on the {s} list",
    "what do we need", "let me hear the {s} list", "whats on the {s} list",
], s=_SHOP)
CORES["list_read_todo"] = _x([
    "what's on my {t} list", "read my {t} list", "what do i have to do", "read me the {t} list",
    "show my tasks", "what are my tasks", "{t} list", "read out my tasks", "what tasks do i have",
    "what's left to do", "check my {t} list", "show me the {t} list", "any tasks left",
    "list my tasks", "what's on the {t} list", "let me hear my {t} list", "what do i still need to do",
    "read my tasks", "my {t} list please", "what's next on my {t} list",
], t=_TODO)
CORES["calculate"] = [
    "what is {a} {op} {b}", "what's {a} {op} {b}", "calculate {a} {op} {b}", "{a} {op} {b}",
    "how much is {a} {op} {b}", "compute {a} {op} {b}", "can you work out {a} {op} {b}",
    "what does {a} {op} {b} make", "{a} {op} {b} is what", "work out {a} {op} {b}", "what's {a} {op} {b} equal",
    "quick maths {a} {op} {b}", "do the math {a} {op} {b}", "what do you get for {a} {op} {b}",
    "{a} {op} {b} please", "math: {a} {op} {b}", "add it up {a} {op} {b}", "help me calculate {a} {op} {b}",
    "what is the result of {a} {op} {b}", "what would {a} {op} {b} be", "calc {a} {op} {b}",
    "whats {a} {op} {b}", "give me {a} {op} {b}", "answer {a} {op} {b}", "{a} {op} {b} comes to what",
]
CORES["percent"] = [
    "what is {a} percent of {b}", "what's {a} percent of {b}", "calculate {a}% of {b}",
    "how much is {a} percent of {b}", "{a} percent of {b}", "{a}% of {b}", "work out {a} percent of {b}",
    "compute {a}% of {b}", "what's {a}% of {b}", "what is {a} percent of {b} in total",
    "how much would {a} percent of {b} be", "give me {a} percent of {b}", "what do i get for {a}% of {b}",
]
CORES["weather"] = [
    "what's the weather in {city} {day}", "weather in {city} {day}", "how's the weather in {city} {day}",
    "will it rain in {city} {day}", "what's the forecast for {city} {day}", "is it going to be sunny in {city} {day}",
    "weather {city} {day}", "what will the weather be like in {city} {day}", "{city} weather {day}",
    "forecast for {city} {day}", "is it cold in {city} {day}", "how warm is it in {city} {day}",
    "will it snow in {city} {day}", "what's it like outside in {city} {day}", "is it raining in {city} {day}",
    "what temperature is it in {city} {day}", "should i bring a coat in {city} {day}",
    "what's the weather going to be in {city} {day}", "give me the weather for {city} {day}",
    "weather report for {city} {day}", "is it windy in {city} {day}", "check the weather in {city} {day}",
    "how cold will {city} be {day}", "{day} in {city}, what's the weather", "will it be hot in {city} {day}",
    "weather forecast {city} {day}", "any rain in {city} {day}", "do i need sunscreen in {city} {day}",
    "what should i wear in {city} {day}", "the weather for {city} {day}",
]
CORES["weather_here"] = [
    "what's the weather {day}", "weather {day}", "will it rain {day}", "what's the forecast {day}",
    "how's the weather {day}", "is it going to be cold {day}", "is it going to rain {day}",
    "what's it like outside {day}", "do i need a coat {day}", "should i take an umbrella {day}",
    "how warm will it be {day}", "weather forecast {day}", "will it snow {day}", "is it sunny {day}",
    "what's the temperature outside {day}", "how cold is it {day}", "forecast {day} please",
    "give me the weather {day}", "weather report {day}", "what should i wear {day}", "will it be windy {day}",
    "check the weather {day}", "is it nice out {day}", "any sun {day}",
]
CORES["get_time"] = [
    "what time is it", "what's the time", "tell me the time", "time please", "current time",
    "do you know what time it is", "what time is it now", "what's the time now", "the time", "time",
    "what time do you have", "got the time", "what's the current time", "how late is it",
    "is it late", "what does the clock say", "what time is it right now", "can you tell me the time",
    "what time have you got", "time check", "clock", "look at the clock, what time is it", "whats the time",
    "how early is it",
]
CORES["get_date"] = [
    "what's the date", "what day is it", "what's today's date", "what is the date today",
    "which day is today", "today's date", "what's the date today", "what day is today", "date please",
    "the date", "what is today", "what's the day today", "which date is it", "date", "what day of the month is it",
    "is it monday today", "what weekday is it", "do you know the date", "what's the date right now",
    "can you tell me the date", "which weekday is it today", "whats the date",
]

# Composed frames (gen_home_data.py --composed-frames). A label was only
# ever where a dozen labelled frames put it, so a label said elsewhere
# ("... for the gym", at the front, or named afterwards) was dropped or a
# frame word taken for it; composing every unlabelled timer and alarm
# frame with the ways people attach a name puts labels everywhere the
# unlabelled request can go. Negated frames get their positive twins: "i
# don't need the {room} lights" (off) without "i need the {room} lights" (on)
# taught that "need" and "light" together mean off.
_LABEL_PRE = ["for {label}, ", "for {label} ", "for the {label}, ", "for the {label} ", "{label}: ",
              "{label}, ", "it's for {label}, ", "this one's for the {label}, "]
_LABEL_POST = [" for {label}", " for the {label}", ", it's for {label}", ", it's for the {label}",
               ", call it {label}", ", label it {label}", " and call it {label}", " named {label}",
               ", name it {label}", " called {label}", " labelled {label}", ", that's for the {label}"]


def _labelled(cores):
    """Every unlabelled core with a label put before or after it."""
    return [p + c for c in cores for p in _LABEL_PRE] + [c + q for c in cores for q in _LABEL_POST]


COMPOSED = {
    "set_timer_label": _labelled(CORES["set_timer"]),
    "set_alarm_label": _labelled(CORES["set_alarm"]),
    "cancel_timer_label": [c.replace("the timer", "the timer for the {label}") for c in CORES["cancel_timer"]
                           if c.count("the timer") == 1],
    "light_on": _x(["i need the {room} {l}"], l=LIGHTS),
    "light_off": _x(["i don't need the {room} {l} on"], l=LIGHTS),
    "switch_on": ["i need the {device}"],
}


# Out-of-scope requests: actions Hearth has no tool for, grouped so the
# model sees what a refusal looks like across many verbs and objects.
_FOODS = ["a pizza", "sushi", "thai food", "a burger", "chinese food", "a salad", "dinner", "groceries online",
          "flowers", "a birthday cake", "coffee from the cafe"]
_MEDIA = ["some music", "my favorite song", "the radio station", "a podcast", "the news", "some jazz",
          "rock music", "the next episode", "an audiobook", "classical music", "the beatles", "my playlist"]
_BOOK = ["a flight", "a hotel", "a table for four", "a doctor's appointment", "a taxi", "a massage",
         "a train ticket", "a rental car", "movie tickets", "a dentist visit", "a babysitter"]
_FACTS = ["who invented the telephone", "how far away is the moon", "what's the capital of {city}",
          "how many people live in {city}", "who is the richest person", "what is the tallest building",
          "when was {city} founded", "how old is the universe", "what language do they speak in {city}",
          "who painted the mona lisa", "how deep is the ocean", "what's the biggest animal",
          "who won the world cup", "what is the speed of light", "how do planes fly",
          "what's the exchange rate for the euro", "who is {first}", "what does {first} do for a living",
          "what time zone is {city} in", "how far is {city} from here", "what's the best restaurant in {city}"]
# Entity extraction. Thirty-odd hand-written sentences taught the model
# those sentences: a name came out right where the training frame had one and
# the neighbouring words came along elsewhere ("argentina about rafael"), and
# a sentence with nobody in it got its first words as a person. So the
# training side composes sentences: a person with one of many verb phrases
# and a place or another person, optional time words before and after, and
# everyday sentences that name nobody, with kin and job words ("my sister",
# "the plumber") that are not names. Slots: {p1}..{p3} people, {l1} {l2} places.
_E_PLACE_VP = ["lives in", "moved to", "works in", "grew up in", "was born in", "is staying in",
               "flew to", "drove to", "took the train to", "went back to", "is from", "comes from",
               "spent the summer in", "studied in", "opened a shop in", "bought a house in",
               "got lost in", "is stuck in", "landed in", "arrived in", "left", "visited",
               "is visiting", "called from", "is moving to", "retired to", "is on holiday in",
               "got a job in", "rented a flat in", "is back from", "sailed to", "cycled to",
               "took a bus to", "loves", "misses", "has never been to", "is still in", "stayed in"]
_E_PERSON_VP = ["met", "called", "married", "texted", "is dating", "works with", "visited", "helped",
                "thanked", "invited", "argued with", "had lunch with", "is friends with",
                "sent a gift to", "borrowed a car from", "lent money to", "emailed", "hugged",
                "is waiting for", "picked up", "drove", "is cooking for", "babysits for", "phoned",
                "played chess with", "went shopping with", "is looking for", "beat", "hired",
                "interviewed", "is related to", "trained with", "danced with"]
_E_BEFORE = ["", "yesterday ", "last week ", "on monday ", "this morning ", "apparently ",
             "i heard that ", "did you know ", "my mom said ", "i think ", "guess what, ",
             "a while ago ", "so ", "last night ", "in march ", "remember when "]
_E_AFTER = ["", " last year", " yesterday", " again", " for work", " on friday",
            " a few days ago", " in the spring", " with the kids", " by car", " for a week",
            " after the wedding", " last month", " this weekend"]
_E_SUBJ = ["my sister", "our neighbour", "the kids", "my boss", "the plumber", "the landlord",
           "my brother", "the teacher", "our dog", "my dad", "the mailman", "my aunt",
           "a colleague", "the doctor", "my grandmother", "our cat", "the nurse", "my cousin"]
_E_EVENT = ["is sick today", "fixed the sink", "made soup for dinner", "forgot the keys again",
            "is coming over later", "bought a new bike", "painted the fence", "lost a glove",
            "needs a haircut", "broke a plate", "fell asleep on the sofa", "won a prize",
            "called twice this morning", "left the door open", "is learning to swim",
            "ate all the cookies", "starts a new job tomorrow", "found the remote"]
_E_EMPTY = ["the heating is on", "it rained all day", "the bus was late again",
            "my phone battery died", "we ran out of coffee", "the printer is jammed",
            "the tomatoes are finally ripe", "the meeting ran long", "nothing happened today",
            "the movie was too long", "the milk smells funny", "traffic was terrible",
            "the fridge is making a noise", "the garden needs water", "the wifi keeps dropping",
            "dinner is at seven", "the window is stuck", "we should paint the hallway"]


def _extract_frames():
    core = []
    for vp in _E_PLACE_VP:
        core += ["{p1} %s {l1}" % vp, "{p1} and {p2} %s {l1}" % vp, "{p1} %s {l1} with {p2}" % vp]
    core += ["{p1} went from {l1} to {l2}", "{p1} is driving from {l1} to {l2}",
             "{p1} flew to {l1} and then {l2}", "{p1} visited {l1} and {l2}",
             "the flight from {l1} to {l2} was full", "the road from {l1} to {l2} is closed",
             "{p1}, {p2} and {p3} met in {l1}", "the letter from {l1} was for {p1}"]
    for vp in _E_PERSON_VP:
        core += ["{p1} %s {p2}" % vp, "{p1} %s {p2} in {l1}" % vp, "{p1} %s {p2} and {p3}" % vp]
    for subj in _E_SUBJ:
        core += ["%s met {p1} in {l1}" % subj, "%s is visiting {l1}" % subj, "%s called {p1}" % subj]
    out = [b + c + a for c in core for b in _E_BEFORE for a in _E_AFTER if not (b and a)]
    # sentences naming nobody: about one in twelve frames
    out += ["%s %s" % (subj, ev) for subj in _E_SUBJ for ev in _E_EVENT]
    out += [b + e + a for e in _E_EMPTY for b in _E_BEFORE[:6] for a in _E_AFTER[:4] if not (b and a)]
    return [o + "." for o in out]


CORES["extract"] = _extract_frames()


_OOS_FRAMES = ["order {food}", "get me {food}", "deliver {food}", "play {media}", "put on {media}",
               "stream {media}", "book {book}", "reserve {book}", "schedule {book}", "find me {book}",
               "{fact}", "tell me {fact}", "do you know {fact}", "look up {fact}", "search for {fact}",
               "send a message to {first}", "text {first}", "email {first} the report", "call {first} for me",
               "ring {first}", "phone {first}", "send {first} a picture", "message {first}",
               "write an essay about {city}", "write a story about a dragon", "sing me a song",
               "tell me a joke", "draw me a cat", "translate this into german", "make me a sandwich",
               "clean the kitchen for me", "walk the dog for me", "fold the laundry", "iron my shirt",
               "cook dinner for me", "wash my car", "fix the sink for me", "paint the fence for me",
               "buy a new phone", "sell my car", "pay my bills", "transfer fifty euros to {first}",
               "check my bank balance", "invest in stocks", "open my email", "read my texts",
               "post a tweet", "update my facebook", "take a selfie", "record a video", "print my photos",
               "turn on the car", "lock the car", "find my phone", "track my package", "renew my subscription",
               "unsubscribe me from the newsletter", "log into my account", "reset my router password",
               "download a game", "install an app", "update my computer", "what's trending online",
               "give me directions to {city}", "how do i get to {city}", "how long is the drive to {city}",
               "book a trip to {city}", "find flights to {city}", "show me a map of {city}",
               "what's happening in {city} tonight", "recommend a book", "recommend a restaurant",
               "what should i cook tonight", "give me a recipe for pancakes", "help me with my homework",
               "explain quantum physics", "teach me to play guitar", "learn french with me",
               "diagnose my headache", "what medicine should i take", "talk to me in spanish",
               "write a poem about {city}", "make a video call to {first}", "invite {first} to dinner",
               "remind {first} about the party", "tell {first} i'm on my way", "share my location with {first}"]
OOS_FILL = {"food": _FOODS, "media": _MEDIA, "book": _BOOK, "fact": _FACTS}

CHAT_EXTRA = [
    ("hi there", "Hello! How can I help?"), ("hello there", "Hi! What can I do for you?"),
    ("hey there", "Hey! How can I help?"), ("hiya", "Hi! What can I do for you?"), ("yo", "Hey! How can I help?"),
    ("greetings", "Hello! How can I help?"), ("hi hearth", "Hi! What can I do for you?"),
    ("hello hearth", "Hello! How can I help?"), ("morning", "Good morning! How can I help?"),
    ("evening", "Good evening! What can I do for you?"), ("good day", "Hello! How can I help?"),
    ("good morning hearth", "Good morning! How can I help?"), ("night night", "Good night! Sleep well."),
    ("thanks hearth", "You're welcome!"), ("thank you hearth", "You're welcome!"), ("thx", "You're welcome!"),
    ("ty", "You're welcome!"), ("appreciate it", "Happy to help!"), ("i appreciate it", "Happy to help!"),
    ("thanks so much", "Happy to help!"), ("many thanks", "You're welcome!"), ("great thanks", "You're welcome!"),
    ("perfect thanks", "You're welcome!"), ("awesome", "Glad to help!"), ("cool", "Okay."), ("great", "Glad to help!"),
    ("how's it going", "I'm doing well, thanks! How can I help?"), ("how are you doing", "I'm doing well, thanks! How can I help?"),
    ("are you there", "I'm here. How can I help?"), ("you there", "I'm here. How can I help?"),
    ("who made you", "I'm Hearth, your home assistant."), ("are you a robot", "I'm Hearth, your home assistant."),
    ("what is your name", "I'm Hearth, your home assistant."), ("tell me about yourself", "I'm Hearth, your home assistant."),
    ("what can you help me with", "I can set timers and alarms, keep notes and lists, control lights, "
     "switches, the thermostat and blinds, do sums and check the weather."),
    ("what are you able to do", "I can set timers and alarms, keep notes and lists, control lights, "
     "switches, the thermostat and blinds, do sums and check the weather."),
    ("what do you do", "I can set timers and alarms, keep notes and lists, control lights, "
     "switches, the thermostat and blinds, do sums and check the weather."),
    ("bye bye", "Goodbye!"), ("see you", "See you later!"), ("later", "See you later!"), ("catch you later", "See you later!"),
    ("talk to you later", "See you later!"), ("see ya", "See you later!"), ("farewell", "Goodbye!"),
    ("okay", "Okay."), ("alright", "Okay."), ("got it", "Okay."), ("sure", "Okay."),
    ("nothing", "Okay, no problem."), ("forget it", "Okay, no problem."), ("no thanks", "Okay, no problem."),
    ("that's it", "Okay. Just ask if you need anything."), ("that's everything", "Okay. Just ask if you need anything."),
    ("well done", "Thanks!"), ("good job", "Thanks!"), ("you're awesome", "Thank you!"), ("love you hearth", "Thank you!"),
]


def _words(s):
    return " ".join(s.lower().replace(",", " ").split())


# Longest first, so "could you please" is stripped whole.
_NORM_LEADS = sorted({_words(x) for x in LEADS}, key=len, reverse=True)
_NORM_TAILS = sorted({_words(x) for x in TAILS}, key=len, reverse=True)


def _norm(t):
    """A frame with lead-ins and tails stripped, for the disjointness check."""
    t = _words(t)
    changed = True
    while changed:
        changed = False
        for ld in _NORM_LEADS:
            if t.startswith(ld + " "):
                t, changed = t[len(ld) + 1:], True
                break
        for tl in _NORM_TAILS:
            if t.endswith(" " + tl):
                t, changed = t[:-len(tl) - 1], True
                break
    return t


def check_disjoint(cores, heldout_frames):
    """Drop training cores whose stripped form is a held-out frame's stripped form.

    Returns (cores without them, number dropped).
    """
    banned = {_norm(f) for f in heldout_frames}
    out, dropped = {}, 0
    for k, lst in cores.items():
        keep = [c for c in dict.fromkeys(lst) if _norm(c) not in banned]
        dropped += len(lst) - len(keep)
        out[k] = keep
    return out, dropped


def dress(rng, core):
    """A core phrase with an optional lead-in and tail."""
    r = rng.random()
    if r < 0.3:
        core = rng.choice(LEADS) + core
    if rng.random() < 0.2:
        core = core + rng.choice(TAILS)
    return core


def oos_requests():
    """Every training out-of-scope request frame, with {city}/{first} left open."""
    out = []
    for f in _OOS_FRAMES:
        key = next((k for k in OOS_FILL if "{%s}" % k in f), None)
        if key is None:
            out.append(f)
        else:
            out += [f.replace("{%s}" % key, v) for v in OOS_FILL[key]]
    return out
