"""heldout_v2.py — the second held-out set's request frames, written blind.

The first held-out set (gen_home_data.T[key][1]) has been read, miss by
miss, to find what the model gets wrong (frame_report.py), so a change made
after reading it is no longer measured fairly on it: it is the development
set now. These frames are the test set. They were written by a separate
author who saw only the tool list and the slot names (not the training
grammar, not the first held-out set): 10 phrasings per key, 300 in all, of
which the 177 that, stripped of lead-ins and tails (home_phrases._norm),
equal a training frame or a first-set frame were removed: 123 remain.
Training never contains them (gen_home_data.heldout_frames() includes them,
so home_phrases.check_disjoint drops any training frame that matches, and
their words never become invented slot values). A key with no frame left
(cancel_timer: every phrasing was a training one) draws from the first set.

`gen_home_data.py --heldout-set v2` writes held-out items from these frames,
with the first set's held-out slot values; these frames are measured, never
read for misses.
"""

FRAMES = {
    "set_timer": [
        "start a {dur} timer",
        "start a countdown for {dur}",
        "make a timer that goes off in {dur}",
        "new timer {dur}",
        "let me know when {dur} is up",
    ],
    "set_timer_label": [
        "timer for {dur} labeled {label}",
        "i need a {label} timer for {dur}",
        "start a timer named {label} for {dur}",
        "put a {dur} timer on for the {label}",
        "make a {dur} timer and call it {label}",
        "the {label} needs {dur} so start a timer for it",
    ],
    "cancel_timer_label": [
        "delete my {label} timer",
        "get rid of the {label} timer",
        "remove the timer called {label}",
        "i don't need the {label} timer anymore",
        "the {label} is done so cancel its timer",
    ],
    "list_timers": [
        "how long left on the timer",
        "any timers going",
        "check my timers",
        "how many minutes are left on the timer",
    ],
    "set_alarm": [
        "set my alarm for {time}",
    ],
    "set_alarm_label": [
        "set an alarm for {time} called {label}",
        "wake me at {time} for the {label}",
        "set an alarm for {time} labeled {label}",
        "create a {label} alarm at {time}",
        "make an alarm named {label} for {time}",
        "i need a {time} alarm for {label}",
        "set my {label} alarm to {time}",
    ],
    "add_note": [
        "write down that {note}",
        "add a note saying {note}",
        "jot down that {note}",
        "i want to remember that {note} so write it down",
    ],
    "list_add_shopping": [
        "stick {item} on my shopping list",
        "add {item} to the groceries",
        "throw {item} on the shopping list",
        "i need to buy {item} so add it to the shopping list",
        "we're running low on {item} put it on the list for the store",
    ],
    "list_add_todo": [
        "put {todo} on my to-do list",
        "put {todo} on my list of things to do",
        "stick {todo} on the to do list",
        "i need to {todo} so put it on my to do list",
    ],
    "list_remove_shopping": [
        "take {item} off the shopping list",
        "cross {item} off my shopping list",
        "scratch {item} from the shopping list",
        "get {item} off my shopping list",
        "drop {item} from my grocery list",
        "i already bought {item} so take it off the shopping list",
        "we don't need {item} anymore so remove it from the shopping list",
    ],
    "list_remove_todo": [
        "take {todo} off my to-do list",
        "scratch {todo} off the to-do list",
        "get {todo} off my task list",
        "to do list remove {todo}",
        "i managed to {todo} so remove it from my to do list",
        "no need to {todo} anymore take it off the to do list",
    ],
    "list_read_shopping": [
        "read my shopping list",
        "read me the shopping list",
        "tell me what's on my shopping list",
        "go through the shopping list",
        "is there anything on my shopping list",
        "what do we need to pick up at the store according to the shopping list",
    ],
    "list_read_todo": [
        "read me my to do list",
        "what's left on my to do list",
        "show me my to do list",
        "tell me what's on my to-do list",
        "go over my to do list",
        "what do i still have on my list of things to do",
    ],
    "calculate": [
        "what does {a} {op} {b} equal",
        "what's the answer to {a} {op} {b}",
        "i need to know what {a} {op} {b} comes to",
    ],
    "percent": [
        "calculate {a} percent of {b}",
        "what does {a} percent of {b} come to",
        "tell me {a} percent of {b}",
        "what's a {a} percent tip on {b}",
        "if i take {a} percent of {b} what do i get",
    ],
    "light_on": [
        "turn the lights on in the {room}",
        "put the {room} lights on",
        "hit the lights in the {room}",
        "it's too dark in the {room} so turn on the lights",
    ],
    "light_off": [
        "turn the lights off in the {room}",
        "nobody's in the {room} so turn the lights off",
    ],
    "light_dim": [
        "turn the {room} lights down to {pct} percent",
        "set the light brightness in the {room} to {pct} percent",
        "bring the lights in the {room} to {pct} percent",
        "{room} light at {pct} percent",
        "change the {room} lights to {pct} percent brightness",
        "i'd like the {room} lights at {pct} percent",
    ],
    "switch_on": [
        "i need the {device} on",
    ],
    "switch_off": [
        "shut the {device} off",
        "i'm done with the {device} so turn it off",
    ],
    "thermostat": [
        "change the thermostat to {temp} degrees",
        "bump the temperature down to {temp} degrees",
        "make it {temp} degrees in here",
        "i'd like the house at {temp} degrees",
    ],
    "thermostat_room": [
        "set the temperature in the {room} to {temp} degrees",
        "turn the heat in the {room} to {temp}",
        "change the {room} temperature to {temp} degrees",
        "heat the {room} to {temp} degrees",
        "put the {room} thermostat on {temp}",
        "i'd like the {room} at {temp} degrees",
        "the {room} is too cold so set it to {temp} degrees",
    ],
    "cover_open": [
        "pull back the {room} curtains",
        "i want the {room} blinds all the way open",
    ],
    "cover_close": [
        "pull the {room} curtains shut",
        "put the {room} blinds all the way down",
        "the sun's too bright in the {room} so close the blinds",
    ],
    "cover_pos": [
        "{room} shades {pct} percent",
        "set the {room} shutters to {pct} percent open",
        "i want the {room} blinds {pct} percent open",
    ],
    "weather": [
        "what's the weather going to be like in {city} {day}",
        "how's the weather looking in {city} {day}",
        "is it going to be cold in {city} {day}",
    ],
    "weather_here": [
        "what's the weather like {day}",
        "is it going to be sunny {day}",
        "how cold is it going to be {day}",
        "how's the weather looking {day}",
        "tell me the weather {day}",
        "should i bring an umbrella {day}",
    ],
    "get_time": [
        "do you have the time",
        "what time have we got",
        "i lost track of time what time is it",
    ],
    "get_date": [
        "what date is it",
        "do you know what the date is",
        "i've lost track of the days what's the date",
    ],
}
