"""Phrasing pools of the scene oracle traces: several wordings per kind of step.

Picked with `generators.phrasing.say` from the sample's own generator, so a seed still gives the
same bytes. A staged mistake (a box on the wrong object, a line to the wrong place) is worded
from the same pool as the correct step it replaces: nothing before it tells it apart. Only the
turn after it, which sees the mistake in the rendered image, uses `NOTICE_*` and `REDRAW`.

Fields: names ('the red cube and the blue ball'), a, b, ref, target, anchor, facing, other,
label, wrong (object names), h, w (cm), img, before (image numbers), k (view/frame number).
"""

from __future__ import annotations

BOX_MANY: tuple[str, ...] = (
    "I box {names}.",
    "First I find {names} and put a box around each.",
    "I mark {names} with labelled boxes.",
    "To start, I locate {names} in the image and box them.",
    "I draw a box around each of {names}.",
    "Boxes first: {names}.",
    "I find {names} and label each with a box.",
)
SIZE_ROLES: tuple[str, ...] = (
    "The reference is the {ref}, {h} cm tall, and the target is the {target}.",
    "The {ref} is the known height ({h} cm); the {target} is the one to measure.",
    "I measure the {target} against the {ref}, which is {h} cm tall.",
    "The {ref} gives the scale ({h} cm) and the {target} is asked about.",
)
SIZE_LINES: tuple[str, ...] = (
    "Both stand at a similar distance from the camera, so their heights in pixels compare "
    "directly. I trace each one's height from the floor to its top.",
    "The two are about as far from the camera as each other, so pixel heights scale alike. I "
    "draw a vertical line up each object from where it stands.",
    "At one depth, pixel lengths compare directly, so I draw the height of each object from "
    "its base to its top.",
    "I trace the height of the {ref} and of the {target}, floor to top; at a similar distance "
    "their pixel heights are in proportion.",
)
SIZE_ANSWER: tuple[str, ...] = (
    "The {ref}'s height line is {rp} px for {h} cm and the {target}'s is {tp} px, so the "
    "{target} is about {h} * {tp} / {rp} = {est} cm tall.",
    "In the drawing the {target}'s line measures {tp} px and the {ref}'s {rp} px ({h} cm): "
    "{h} * {tp} / {rp} = {est} cm.",
    "Scaling by the reference, {tp} px / {rp} px of {h} cm gives {h} * {tp} / {rp} = {est} cm "
    "for the {target}.",
)
CLOSEST_LINES: tuple[str, ...] = (
    "I trace a line along the floor from the {anchor} to each candidate object.",
    "From where the {anchor} stands I draw a floor line to each of the three candidates.",
    "I connect the base of the {anchor} to the base of every candidate with a line.",
    "Next, one line on the floor from the {anchor} to each option.",
)
CLOSEST_ANSWER: tuple[str, ...] = (
    "The line to the {a} is clearly the shortest in the drawing ({ap} px, against {bp} px for "
    "the next), so the {a} is closest to the {anchor}: option {letter}.",
    "In the drawing the {a}'s line is {ap} px and the next shortest {bp} px: the {a} is "
    "closest to the {anchor}, option {letter}.",
    "Comparing the lines, the one to the {a} ({ap} px) is well short of the others (the next "
    "is {bp} px). Option {letter}, the {a}.",
)
DIRECTION_ROLES: tuple[str, ...] = (
    "I stand at the {anchor}, face the {facing}, and look for the {other}.",
    "The {anchor} is where I stand, the {facing} where I face, and the {other} is asked about.",
    "Standing at the {anchor} and facing the {facing}, I need the side of the {other}.",
)
DIRECTION_LINES: tuple[str, ...] = (
    "I draw the facing direction and the direction to the {other}.",
    "From the {anchor} I draw one line towards the {facing} and one to the {other}.",
    "Two lines from where I stand: the facing line to the {facing}, and a line to the {other}.",
    "I trace the way I face, then the way to the {other}, both from the {anchor}.",
)
DIRECTION_ANSWER: tuple[str, ...] = (
    "In the drawing the line to the {other} is about {deg} degrees to the {side} of the facing "
    "line, so it is {ahead} and to the {side}: {where}, option {letter}.",
    "The drawn line to the {other} turns about {deg} degrees {side} of the facing line; that "
    "is {ahead}, on the {side}: {where}, option {letter}.",
    "Measured on the image, the two lines open about {deg} degrees with the {other} on the "
    "{side} and {ahead}. The answer is {where}, option {letter}.",
)
DISTANCE_ROLES: tuple[str, ...] = (
    "The reference is the {ref}, {w} cm wide.",
    "The {ref} gives the scale: it is {w} cm wide.",
    "I measure with the {ref}, whose width is {w} cm.",
)
DISTANCE_LINES: tuple[str, ...] = (
    "The {a}, the {b} and the {ref} are at about the same distance from the camera, so lengths "
    "across the view compare directly in pixels. I trace a line from the centre of the {a} to "
    "the centre of the {b}, and one across the {ref} along its {w} cm width.",
    "All three sit at a similar depth, so pixel lengths compare. I draw the centre-to-centre "
    "line from the {a} to the {b} and a line across the {ref}'s {w} cm width.",
    "I trace the {a}-to-{b} line between the centres and the width of the {ref}; at one depth "
    "the two lengths are in proportion.",
)
DISTANCE_ANSWER: tuple[str, ...] = (
    "The line between the centres is {ab} px and the {ref}'s width line is {rp} px for {w} cm, "
    "so the centres are about {w} * {ab} / {rp} = {est} cm apart.",
    "In the drawing the centres are {ab} px apart and the {ref} is {rp} px across ({w} cm): "
    "{w} * {ab} / {rp} = {est} cm.",
    "Scaling {ab} px by {w} cm per {rp} px gives {w} * {ab} / {rp} = {est} cm between the centres.",
)
COUNT_FRAME: tuple[str, ...] = (
    "In frame {k} I see {names}; I box each with its own label so the same object keeps its "
    "label across frames.",
    "Frame {k} shows {names}. I box them, one label per object, reused in every frame.",
    "I box {names} in frame {k}, labelling each object the same way wherever it appears.",
    "In frame {k}: {names}. Each gets a box with its name, so repeats are easy to spot.",
)
COUNT_FRAME_ONE: tuple[str, ...] = (
    "In frame {k} I see {names}; I box it under its own label, the same in every frame.",
    "Frame {k} shows {names}. I box it, with the label it keeps across frames.",
    "I box {names} in frame {k}, labelled the same way wherever it appears.",
    "In frame {k}: {names}. It gets a box with its name, so a repeat is easy to spot.",
)
COUNT_NONE: tuple[str, ...] = (
    "Frame {k} showed no {color} object.",
    "There was no {color} object in frame {k}.",
    "Frame {k} had nothing {color}.",
)
COUNT_ANSWER: tuple[str, ...] = (
    "Across the frames the same objects come back: {summary}. Counting each object once gives "
    "{count}.",
    "Some boxes repeat a label from an earlier frame ({summary}), so the distinct objects "
    "number {count}.",
    "Reading the labels across the frames ({summary}), each object counted once: {count}.",
)
VIEW_BOX: tuple[str, ...] = (
    "In view {k} I box {names}.",
    "View {k}: I box {names}.",
    "I find {names} in view {k} and box them.",
    "Now view {k}; I put a box on {names}.",
)
VIEW_SAME_LABELS: tuple[str, ...] = (
    " with the same labels, so each object keeps its label across views",
    ", labelled as before",
    ", each under the label it had in the earlier views",
)
VIEW_SIDE: tuple[str, ...] = (
    "Here the {a} is to the {side} of the {b}.",
    "In this view the {a}'s box is {side} of the {b}'s.",
    "The {a} appears on the {side} of the {b} here.",
)
VIEW_ANSWER: tuple[str, ...] = (
    "Only in view {k} is the {a}'s box to the left of the {b}'s; in every other view it is to "
    "the right. The answer is view {k}: option {letter}.",
    "The {a} is left of the {b} in view {k} alone, so option {letter}.",
    "Going through the views, the {a} sits left of the {b} only in view {k}: option {letter}.",
)
APPEAR_FIRST: tuple[str, ...] = (
    "The {a} is already in frame 1, the first frame.",
    "Frame 1 already shows the {a}.",
    "The {a} is visible from the very first frame.",
)
APPEAR_NEW: tuple[str, ...] = (
    "The {a} first comes into view in frame {k}; frame {prev} does not show it.",
    "Frame {k} is the first to show the {a}; it is absent from frame {prev}.",
    "The {a} enters the picture in frame {k}, after not being in frame {prev}.",
)
APPEAR_BOX: tuple[str, ...] = ("I box it there.", "I box it in that frame.", "I mark it there.")
APPEAR_ANSWER: tuple[str, ...] = (
    "First appearances: {found}. So the order is {order}: option {letter}.",
    "The boxes mark {found}; in order, {order}. Option {letter}.",
    "Ordering the first frames ({found}) gives {order}: option {letter}.",
)
# The turn after a staged mistake: what the rendered image shows, then the fix.
NOTICE_BOX: tuple[str, ...] = (
    "In image {img} the box labelled {label} sits on the {wrong}, not on the {label}.",
    "Image {img} shows the {label} box around the {wrong}; the {label} is elsewhere.",
    "Looking at image {img}, the box I labelled {label} encloses the {wrong} instead of the "
    "{label}.",
    "The {label} box in image {img} is on the wrong object: it frames the {wrong}.",
)
NOTICE_LINE_END: tuple[str, ...] = (
    "In image {img} the line labelled {label} ends on the {wrong}, not on the {target}.",
    "Image {img} shows the line labelled {label} running to the {wrong} instead of the {target}.",
    "Looking at image {img}, the line labelled {label} stops at the {wrong}; it should reach "
    "the {target}.",
)
NOTICE_LINE_ON: tuple[str, ...] = (
    "In image {img} the line labelled {label} stands on the {wrong}, not on the {target}.",
    "Image {img} shows the line labelled {label} drawn up the {wrong} instead of the {target}.",
    "Looking at image {img}, the line labelled {label} measures the {wrong}; it belongs on the "
    "{target}.",
)
NOTICE_LINE_SIDE: tuple[str, ...] = (
    "In image {img} the line labelled {label} misses the {target}; it points the wrong way.",
    "Image {img} shows the line labelled {label} heading away from the {target}, to the other "
    "side.",
    "Looking at image {img}, the line labelled {label} does not reach the {target}: it is "
    "mirrored.",
)
REDRAW: tuple[str, ...] = (
    "I redraw on image {before}, before the mistake.",
    "I go back to image {before} and draw it again correctly.",
    "So I draw it again on image {before}, which does not have the wrong mark.",
    "The fix is to redraw on image {before}.",
)
# One element per turn (a phase drawn one element at a time, and every staged mistake).
BOX_ONE_FIRST: tuple[str, ...] = (
    "I start with the {a} and box it.",
    "First, a box around the {a}.",
    "I find the {a} and put a box on it.",
    "I box the {a} first.",
    "The {a} comes first: I box it.",
)
BOX_ONE_NEXT: tuple[str, ...] = (
    "Next I box the {a}.",
    "Now the {a}: I put a box around it.",
    "I box the {a} as well.",
    "Then I find the {a} and box it.",
    "I add a box on the {a}.",
)
SIZE_LINE_FIRST: tuple[str, ...] = (
    "Both stand at a similar distance from the camera, so pixel heights compare directly. I "
    "trace the height of the {a} first, floor to top.",
    "At one depth, heights in pixels are in proportion. I start with the {a}'s height, from "
    "where it stands to its top.",
    "The two are about as far from the camera as each other, so I measure heights in pixels, "
    "beginning with the {a}.",
)
SIZE_LINE_NEXT: tuple[str, ...] = (
    "Now the height of the {a}, floor to top.",
    "I trace the {a}'s height the same way.",
    "Next, a vertical line up the {a}.",
    "Then I draw the {a}'s height from its base to its top.",
)
CLOSEST_LINE_ONE: tuple[str, ...] = (
    "I draw the floor line from the {anchor} to the {a}.",
    "Next, a line along the floor from the {anchor} to the {a}.",
    "I connect the {anchor} to the {a} on the floor.",
    "A line from where the {anchor} stands to the {a}.",
)
FACING_ONE: tuple[str, ...] = (
    "I draw the facing line from the {anchor} to the {facing}.",
    "First the direction I face: a line from the {anchor} towards the {facing}.",
    "I trace the way I face, from the {anchor} to the {facing}.",
)
OTHER_ONE: tuple[str, ...] = (
    "Now the line from the {anchor} to the {other}.",
    "I draw the direction to the {other}, from where I stand.",
    "Next, a line from the {anchor} to the {other}.",
)
AB_ONE: tuple[str, ...] = (
    "The {a}, the {b} and the {ref} are at about the same distance from the camera, so lengths "
    "across the view compare in pixels. I trace the line from the centre of the {a} to the "
    "centre of the {b}.",
    "All three sit at a similar depth, so pixel lengths compare. First the centre-to-centre "
    "line from the {a} to the {b}.",
    "At one depth, lengths are in proportion; I draw the line between the centres of the {a} "
    "and the {b}.",
)
REF_WIDTH_ONE: tuple[str, ...] = (
    "Now a line across the {ref} along its {w} cm width.",
    "I trace the {ref}'s width, {w} cm, across the view.",
    "Next, the reference: a line across the {ref}, {w} cm wide.",
)
