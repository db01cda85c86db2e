"""Promises across functions (issue 20), as a property of the planner over time.

Sequences of an owner's tag changes (each followed by the EventBridge event the auto-release
function handles, inside the fleet's fence, anchored at the event's time), hourly reconciles and
nightly releases (anchored by ActionTrail's tag records, or not at all when ActionTrail cannot be
read) and ECS's own timer, on one instance. Whatever the order: no run releases an instance while
a keep signal stands or before the time the tool last announced, and ECS's timer releases an
instance outside the fleet (where RAM refuses the cancel) only within the window docs/safety.md
names: the horizon, or the minimum notice after a run that could not read the anchor.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_lifecycle.model import TAG_RECORD_MARGIN, Action, Decision, FromTag, Instance, TagWrites
from ecs_lifecycle.planning import Policy, decide_auto_release, decide_release, keep_until

UTC = timezone.utc
START = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
FLEET = ("env", "dev")

LIFETIMES = st.sampled_from(["72h", "1h", "30h", "30d", "never", "2026-11-27T08:00Z", None])
CHANGES = st.one_of(
    st.tuples(st.just("auto-release"), LIFETIMES),
    st.tuples(st.just("protected"), st.sampled_from(["true", None])),
    st.tuples(st.just("keep-until"), st.sampled_from(["2026-11-27T12:00Z", "2026-11-30", None])),
    st.tuples(st.just("env"), st.sampled_from(["dev", "prod"])),
    st.tuples(st.just("trail"), st.sampled_from(["down", "up"])),  # ActionTrail readable or not
)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("tag"), CHANGES),
        st.tuples(st.just("hours"), st.integers(min_value=1, max_value=30)),
        st.tuples(st.just("nightly"), st.none()),
    ),
    max_size=25,
)


def _keeps(instance: Instance, policy: Policy, now: datetime) -> bool:
    tags = dict(instance.tags)
    return "protected" in tags or keep_until(instance, policy, now).keeps is not None


class World:
    """One instance, its owner, the three functions' runs and ECS's timer, on the planner."""

    def __init__(self, age: timedelta, notice: timedelta) -> None:
        self.base = Policy(min_notice=notice)
        self.policy = self.base
        # How long after leaving the fleet ECS's timer may still release the instance: a time is
        # written at most the horizon ahead, or the minimum notice by a run that could not read
        # when the tags were written (docs/safety.md).
        self.window = self.base.horizon + timedelta(minutes=2)
        self.unanchored_window = max(self.base.horizon, notice) + timedelta(minutes=2)
        self.unanchored_write = False  # a run without the anchor wrote the time in ECS
        self.trail_up = True
        self.written = START - age  # the tags were given at creation
        self.now = START
        self.instance = Instance(
            "i-prop", "cn-hangzhou", "Stopped", "PostPaid", False, None, START - age, (FLEET,)
        )
        self.announced: datetime | None = None  # the release time the tool last said
        self.left_fleet: datetime | None = None
        self.released = False

    def in_fleet(self) -> bool:
        return FLEET in self.instance.tags

    def read_trail(self) -> None:
        """The policy of a run that reads ActionTrail's tag records (or fails to)."""
        since = self.now - self.base.min_notice - TAG_RECORD_MARGIN
        if not self.trail_up:
            writes = TagWrites(since=since, problem="ActionTrail: ServiceUnavailable")
        else:
            seen = {"i-prop": self.written} if self.written >= since else {}
            writes = TagWrites(since=since, written=seen)
        self.policy = replace(self.base, tag_writes=writes)

    def carry_out(self, decision: Decision) -> None:
        if decision.skipped and decision.action is not Action.NONE:
            return
        if decision.action is Action.SET_AUTO_RELEASE:
            self.unanchored_write = self.policy.tag_writes is None or (
                self.policy.tag_writes.problem is not None
            )
            self.instance = replace(self.instance, auto_release_time=decision.release_at)
        elif decision.action is Action.CANCEL_AUTO_RELEASE:
            self.instance = replace(self.instance, auto_release_time=None)
        if decision.release_at is not None:
            self.announced = decision.release_at

    def tag(self, key: str, value: str | None) -> None:
        if key == "trail":
            self.trail_up = value == "up"
            return
        tags = dict(self.instance.tags)
        was_in = self.in_fleet()
        if value is None:
            tags.pop(key, None)
        else:
            tags[key] = value
        self.instance = replace(self.instance, tags=tuple(tags.items()))
        if value is not None:
            self.written = self.now  # a tag call: ActionTrail records it, the event carries it
        if key == "auto-release":
            self.announced = None  # the owner asked for something else; the event says anew
        if not self.in_fleet():
            self.left_fleet = self.now if was_in else self.left_fleet
            return  # the event's re-read finds it outside TARGET_TAGS: nothing happens
        self.left_fleet = None
        at = self.now
        self.policy = replace(self.base, tag_writes=TagWrites(since=at, written={"i-prop": at}))
        if value is None:  # an untag event: the anchor comes from ActionTrail
            self.read_trail()
        schedule = FromTag(cancel_when_missing=True)
        self.carry_out(decide_auto_release(self.instance, schedule, self.policy, self.now))

    def hour(self) -> None:
        self.now += timedelta(hours=1)
        due = self.instance.auto_release_time
        if due is not None and due <= self.now:  # ECS's timer
            assert self.announced is None or due >= self.announced
            if _keeps(self.instance, self.policy, due) or not self.in_fleet():
                assert self.left_fleet is not None, "a keep signal inside the fleet was lost"
                window = self.unanchored_window if self.unanchored_write else self.window
                assert due - self.left_fleet <= window
            self.released = True
        elif self.in_fleet() and self.instance.tag("auto-release") is not None:  # reconcile
            self.read_trail()
            self.carry_out(decide_auto_release(self.instance, FromTag(), self.policy, self.now))

    def nightly(self) -> None:
        if not self.in_fleet():
            return  # fenced
        self.read_trail()
        decision = decide_release(self.instance, self.policy, self.now)
        if decision.action is Action.RELEASE and not decision.skipped:
            assert not _keeps(self.instance, self.policy, self.now)
            if self.instance.tag("auto-release") is not None and self.announced is not None:
                assert self.now >= self.announced, decision.reason
            self.released = True


@settings(max_examples=200, deadline=None)
@given(
    steps=STEPS,
    age=st.sampled_from([timedelta(0), timedelta(days=14)]),
    notice=st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(hours=24)]),
)
def test_no_run_breaks_a_promise_or_a_keep_signal(
    steps: list[tuple[str, object]], age: timedelta, notice: timedelta
) -> None:
    world = World(age, notice)
    for kind, arg in steps:
        if kind == "tag":
            assert isinstance(arg, tuple)
            world.tag(*arg)
        elif kind == "hours":
            assert isinstance(arg, int)
            for _ in range(arg):
                if not world.released:
                    world.hour()
        elif not world.released:
            world.nightly()
        if world.released:
            return
