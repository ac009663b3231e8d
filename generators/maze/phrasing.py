"""Phrasing pools of the maze oracle traces: several wordings per kind of step.

Every pool is a tuple of `str.format` templates; `say` picks one with the sample's own phrasing
generator, so a seed still gives the same bytes. The staged wrong turn of a reflective trace is
worded from the same pools as a correct step (`FIRST_MOVE`/`NEXT_MOVE`, `MOVE_BODY`, `CHECK_*`):
nothing before the mistake tells it apart. Only the turn after it, which sees the wrong line in
the rendered image (a dead end, a side branch, or a wall crossed), uses `NOTICE_*` and `REDRAW`.

With `trace_granularity: route` one turn draws the whole route (`ROUTE_PLAN`, then one
`FIRST_MOVE`/`NEXT_MOVE` sentence per segment) and the answer turn first checks the rendered
route (`CHECK_ROUTE`); a staged mistake sits inside that one drawing, worded like the rest, the
turn after it uses `NOTICE_*` and `REDRAW_ROUTE`, and the answer turn `CHECK_ROUTE_FIXED`.

Fields: a, b, end, last, start, goal (cells as 'row 2, column 3'); toward ('upward',
'to the left'); d ('up', 'left'); moves ('2 moves'); label ('segment 3'); seg ('segment 2' or
'segments 2-4'); segs ('4 straight segments'); final ('segment 4', the route's last); img,
before (image numbers).
"""

from __future__ import annotations

from drawreason.generators.phrasing import say

__all__ = ["say"]

# How the first segment leaves the start.
FIRST_MOVE: tuple[str, ...] = (
    "From the start at {a} the corridor opens {toward}",
    "Setting off from the start at {a}, I head {toward}",
    "The start marker is at {a}, and from there I go {toward}",
    "I begin at the start, {a}, and move {toward}",
    "From the start at {a} the passage leads {toward}",
    "Leaving the start at {a}, the way goes {toward}",
)
# How a later segment leaves the end of the one before it.
NEXT_MOVE: tuple[str, ...] = (
    "At {a} the route turns {toward}",
    "At {a} I turn {toward}",
    "From {a} the open passage continues {toward}",
    "At {a} the corridor bends {toward}",
    "The next stretch leaves {a} {toward}",
    "From {a} the way on leads {toward}",
    "At {a} the path changes direction and goes {toward}",
)
# What is drawn, after FIRST_MOVE or NEXT_MOVE and a joiner.
MOVE_BODY: tuple[str, ...] = (
    "I trace {moves} {d} to {b} as {label}",
    "{label} runs {moves} {d} to {b}",
    "I draw {label} {moves} {d}, ending at {b}",
    "{label} covers {moves} {d} and stops at {b}",
    "I draw {label} from there to {b}, {moves} {d}",
    "I follow the passage {moves} {d} to {b} and draw that as {label}",
)
JOINERS: tuple[str, ...] = ("; ", ", so ", ". ")
REACHES_GOAL: tuple[str, ...] = (
    ", which is the goal.",
    ". That cell is the goal.",
    "; the goal is there.",
    ". This reaches the goal.",
)
# Confirming the segment(s) drawn in the previous turn, seen in image `img`.
CHECK_ONE: tuple[str, ...] = (
    "{seg} follows open cells without crossing a wall.",
    "In image {img}, {seg} stays between the walls.",
    "Image {img} shows {seg} running through open cells only.",
    "{seg} crosses no wall in image {img}.",
    "Checking image {img}: {seg} passes no wall.",
    "The {d} line of {seg} keeps to the open corridor.",
    "{seg}, {moves} {d}, lies along an open passage.",
    "Looking at image {img}, the {d} stretch of {seg} does not cut through any wall.",
    "The drawing confirms that {seg} only crosses open cells.",
    "{seg} ends at {end} without touching a wall.",
    "In image {img}, {seg} reaches {end} through open passages.",
    "Every cell on the {d} line of {seg} is open.",
    "{seg} goes {d} to {end} inside the corridor, as image {img} shows.",
    "Nothing blocks {seg} on its way {d} to {end}.",
)
CHECK_MANY: tuple[str, ...] = (
    "{seg} follow open cells without crossing a wall.",
    "In image {img}, {seg} stay between the walls.",
    "Image {img} shows {seg} running through open cells only.",
    "{seg} cross no wall in image {img}.",
    "Checking image {img}: {seg} pass no wall on the way to {end}.",
    "The lines of {seg} keep to the open corridors up to {end}.",
)
# Whole-route granularity: the opening of the one turn that draws every segment.
ROUTE_PLAN: tuple[str, ...] = (
    "I draw the whole route from the start at {start} to the goal at {goal} in one call, "
    "{segs} in all.",
    "The route from the start at {start} to the goal at {goal} takes {segs}, and I trace every "
    "one of them in this call.",
    "Following the open corridors from the start at {start} to the goal at {goal}, I draw the "
    "full route at once: {segs}.",
    "One Path Tracer call can hold the whole route, so I trace all of it from {start} to the "
    "goal at {goal}, {segs}.",
    "I read the way from the start at {start} to the goal at {goal} off the maze and draw it "
    "in one go as {segs}.",
    "Rather than one line per call, I lay down the complete route from {start} to the goal at "
    "{goal}: {segs}.",
)
# Whole-route granularity: the answer turn first checks the drawn route in image `img`.
CHECK_ROUTE: tuple[str, ...] = (
    "Image {img} shows {segs} joined end to end from the start to the goal, none of them "
    "crossing a wall.",
    "Checking image {img}: every drawn line keeps to open corridors, and {final} ends on the "
    "goal at {goal}.",
    "In image {img} the drawn route is unbroken from {start} to {goal} and passes through no wall.",
    "Looking over image {img}, each line runs through open cells only, and the last one stops "
    "at the goal.",
    "The route in image {img} leaves the start at {start}, stays between the walls and reaches "
    "the goal.",
    "Image {img} confirms the drawing: the lines meet at every bend, cross no wall and end at "
    "{goal}, the goal.",
    "Before answering I check image {img}: the route is open all the way and {final} finishes "
    "at the goal.",
)
# The turn after a wrong turn: what the rendered image shows.
NOTICE_DEAD_END: tuple[str, ...] = (
    "In image {img}, {label} runs into a dead end at {end}: walls close it on three sides, "
    "so that is wrong.",
    "Image {img} shows {label} stopping at {end}, a dead end with no way on; that turn was wrong.",
    "Looking at image {img}, {label} ends against walls at {end}, a dead end, and the goal is "
    "not there.",
    "The new line in image {img} ends at {end}, which is a dead end; {label} went the wrong way.",
    "In image {img}, {label} leads to a dead end at {end} instead of toward the goal, so it is "
    "a mistake.",
    "{label} in image {img} stops at {end}, and that cell is a dead end: this is not the route.",
)
NOTICE_SIDE_BRANCH: tuple[str, ...] = (
    "In image {img}, {label} leads into a side branch that only ends in dead ends beyond {end}; "
    "it never reaches the goal, so that is wrong.",
    "Image {img} shows {label} entering a side branch at {end}; every way on from there ends in "
    "a dead end, so it is the wrong way.",
    "Looking at image {img}, the passage of {label} beyond {end} only splits into dead ends and "
    "never meets the goal: a side branch, not the route.",
    "{label} in image {img} turns off into a side branch; past {end} it runs only into dead "
    "ends, so this was a mistake.",
)
# The turn after a segment drawn on through a wall: last is the run's real last cell, end the
# cell behind the wall where the wrong line stops.
NOTICE_THROUGH_WALL: tuple[str, ...] = (
    "In image {img}, {label} does not stop at {last}: it runs on through the wall into {end}, "
    "so that is wrong.",
    "Image {img} shows the line of {label} crossing a wall between {last} and {end}; a route "
    "cannot pass there, so it is a mistake.",
    "Looking at image {img}, {label} cuts through the wall past {last} and ends at {end}, where "
    "no passage leads: a mistake.",
    "The {d} line of {label} in image {img} goes one cell too far: it crosses the wall after "
    "{last} into {end}, which is wrong.",
    "{label} in image {img} overshoots {last} and passes through a wall to {end}; that is wrong, "
    "no open passage goes there.",
)
REDRAW: tuple[str, ...] = (
    "I redraw {label} on image {before}, the drawing before the mistake.",
    "I go back to image {before}, from before the wrong line, and redraw {label} there.",
    "So I draw {label} again on image {before}, which does not have the wrong line.",
    "Back on image {before}, I redraw {label} along the correct passage.",
    "I return to image {before} and draw {label} again, this time along the route.",
    "The fix is to redraw {label} on image {before}, before the mistake.",
)
# Whole-route granularity: the mistaken segment redrawn on image `img`, the drawing that shows
# it (redrawing every segment on the clean maze would repeat operations already executed, which
# the protocol ends as `duplicate_operation`), so the first line stays visible as a stub.
REDRAW_ROUTE: tuple[str, ...] = (
    "I redraw {label} on image {img}; the rest of the route there is right, and the first "
    "line will stay visible as a stub beside the new one.",
    "The other segments in image {img} are fine, so I draw {label} again on that image along "
    "the open passage; the old line remains as a stub.",
    "The fix is to redraw {label} on image {img}, keeping the other segments; the stub of the "
    "first line will still show.",
    "On image {img} I replace {label} with a line along the route; its old stroke stays in the "
    "picture but is no longer part of the route.",
    "I correct {label} on image {img} itself, since every other segment there is right; the "
    "first attempt remains visible as a short stub.",
)
# Whole-route granularity, after such a fix: the answer turn checks the corrected drawing.
CHECK_ROUTE_FIXED: tuple[str, ...] = (
    "In image {img} the new {label} joins its neighbours, so the labelled segments run through "
    "open corridors from the start to the goal at {goal}; the stub beside it is left over.",
    "Image {img} shows {label} along the open passage now, and with it the route is unbroken "
    "up to the goal at {goal}, the short stub aside.",
    "Checking image {img}: apart from the left-over stub, the lines form one open route from "
    "{start} to the goal at {goal}, with {label} in its place.",
    "With {label} corrected, image {img} shows the route meeting at every bend and ending at "
    "the goal; the stub from the first attempt is not part of it.",
)
# The answer turn: the route read off the drawing, then the question's own step.
ANSWER_ROUTE: tuple[str, ...] = (
    "The traced route from the start at {start} to the goal at {goal} is {route}: {segs} and "
    "{moves}.",
    "Read off the drawing, the route from {start} to the goal at {goal} is {route}: {segs} "
    "with {moves} in total.",
    "The drawn segments run from the start at {start} to the goal at {goal} as {route}: "
    "{moves} in {segs}.",
    "From {start} to the goal at {goal} the drawing shows {route}; that is {segs} and {moves}.",
    "The finished drawing joins the start at {start} to the goal at {goal} by {route}: "
    "{moves} over {segs}.",
)
ANSWER_OPTION: tuple[str, ...] = (
    "That is option {letter}, {option}.",
    "This matches option {letter}, {option}.",
    "Option {letter}, {option}, is the same route.",
    "Among the options, {letter} ({option}) is exactly this route.",
    "The option that lists this route is {letter}: {option}.",
)
ANSWER_MOVES: tuple[str, ...] = (
    "Adding the moves of the segments: {total} = {count}.",
    "Summing the segment lengths, {total} = {count} moves.",
    "The segments add up to {total} = {count}.",
    "Counting segment by segment: {total} = {count}.",
)
ANSWER_NO_TURN: tuple[str, ...] = (
    "A single straight segment never changes direction: 0 turns.",
    "With only one straight segment the direction never changes, so 0 turns.",
    "One segment means no change of direction: 0 turns.",
)
ANSWER_TURNS: tuple[str, ...] = (
    "The direction changes once between each pair of consecutive segments: {n} - 1 = {turns}.",
    "Each new segment is a change of direction, so {n} segments give {n} - 1 = {turns}.",
    "Every joint between two segments is one turn: {n} - 1 = {turns}.",
    "The route bends wherever one segment meets the next: {n} - 1 = {turns}.",
)
