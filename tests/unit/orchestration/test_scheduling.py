"""Admission and placement: quotas with borrowing, priorities with FIFO, per-user limits,
no over-commit, and a reason and queue position for every waiting job."""

from backend.services.orchestration.scheduling import Allocation, Node, QueueQuota, Request, admit, preemptions

NODES = [Node("gpu-a", 8, 64, 512, "A100"), Node("gpu-b", 8, 64, 512, "A100"), Node("cpu-1", 0, 32, 128)]


def req(job, queue="cardio", gpus=1, priority=0, order=0, user="u1", cpu=4.0, mem=16.0, gpu_type=""):
    return Request(job, queue, user, priority, order, gpus, cpu, mem, gpu_type)


def test_priority_first_then_fifo_and_never_overcommit():
    pending = [req("low", gpus=8, order=1), req("high", gpus=8, priority=5, order=2), req("next", gpus=8, order=3)]
    decision = admit(NODES, [QueueQuota("cardio", 16)], [], pending)
    assert [a.job_id for a in decision.admitted] == ["high", "low"]
    assert {a.node for a in decision.admitted} == {"gpu-a", "gpu-b"}  # one 8-GPU job per node
    assert decision.waiting["next"][0] == 1 and "quota" in decision.waiting["next"][1]


def test_borrowing_uses_idle_capacity_but_not_another_queues_nominal_share():
    quotas = [QueueQuota("cardio", 4, borrowing_limit_gpus=8), QueueQuota("onco", 8)]
    decision = admit(NODES, quotas, [], [req("c1", gpus=4), req("c2", gpus=4, order=1), req("c3", gpus=4, order=2)])
    # 16 GPUs: onco is owed 8, so cardio may hold 4 nominal + 4 borrowed
    assert [a.job_id for a in decision.admitted] == ["c1", "c2"]
    assert "GPU quota" in decision.waiting["c3"][1]
    running = [Allocation("o1", "onco", "u9", "gpu-b", 8, 8, 64)]
    later = admit(NODES, quotas, running, [req("o2", "onco", gpus=1)])
    assert later.admitted == [] and "onco" in later.waiting["o2"][1]


def test_a_job_too_big_for_any_node_says_so():
    decision = admit(NODES, [QueueQuota("cardio", 32)], [], [req("huge", gpus=12)])
    assert "no single node" in decision.waiting["huge"][1]
    typed = admit(NODES, [QueueQuota("cardio", 32)], [], [req("h100", gpus=1, gpu_type="H100")])
    assert "H100" in typed.waiting["h100"][1]


def test_per_user_limit_lets_others_pass():
    quotas = [QueueQuota("cardio", 16, per_user_gpus=2)]
    running = [Allocation("r", "cardio", "alice", "gpu-a", 2, 2, 8)]
    decision = admit(NODES, quotas, running, [req("a2", user="alice"), req("b1", user="bob", order=1)])
    assert [a.job_id for a in decision.admitted] == ["b1"]
    assert "alice already holds 2 GPUs" in decision.waiting["a2"][1] and decision.waiting["a2"][0] == 1


def test_cpu_jobs_go_to_cpu_capacity_and_queue_positions_count_waiting_jobs():
    pending = [req(f"cpu{i}", gpus=0, cpu=16, order=i) for i in range(12)]
    decision = admit(NODES, [QueueQuota("cardio", 0)], [], pending)
    assert len(decision.admitted) == 10  # 64 + 64 + 32 cores at 16 each
    assert [decision.waiting[f"cpu{i}"][0] for i in (10, 11)] == [1, 2]


def test_queues_take_turns():
    quotas = [QueueQuota("a", 8), QueueQuota("b", 8)]
    pending = [req(f"a{i}", "a", order=i) for i in range(4)] + [req(f"b{i}", "b", order=10 + i) for i in range(4)]
    decision = admit([Node("n", 4, 64, 512)], quotas, [], pending)
    assert [a.job_id for a in decision.admitted] == ["a0", "b0", "a1", "b1"]


def run(job, node, gpus, priority=0, order=0, queue="cardio"):
    return Allocation(job, queue, "u2", node, gpus, 4.0, 16.0, priority, order)


def test_preemption_evicts_the_fewest_lowest_priority_newest_jobs_of_the_same_queue():
    running = [
        run("old-low", "gpu-a", 4, priority=1, order=1),
        run("new-low", "gpu-a", 4, priority=1, order=2),
        run("lowest", "gpu-b", 4, priority=0, order=3),
        run("peer", "gpu-b", 4, priority=9, order=4),
    ]
    urgent = req("urgent", gpus=4, priority=9, order=9)
    quotas = [QueueQuota("cardio", 16)]
    assert admit(NODES, quotas, running, [urgent]).admitted == []  # the pool is full
    assert preemptions(NODES, quotas, running, [urgent], ["cardio"]) == {"lowest": "urgent"}
    bigger = req("bigger", gpus=8, priority=9, order=9)
    assert preemptions(NODES, quotas, running, [bigger], ["cardio"]) == {"new-low": "bigger", "old-low": "bigger"}
    assert preemptions(NODES, quotas, running, [urgent], []) == {}  # the queue does not allow it


def test_preemption_never_crosses_queues_nor_evicts_in_vain():
    quotas = [QueueQuota("cardio", 8), QueueQuota("onco", 8)]
    running = [run("onco-low", "gpu-a", 8, queue="onco"), run("cardio-low", "gpu-b", 4, priority=1)]
    # cardio's own job holds 4 of its 8; the other 8 GPUs belong to onco, whose job is not cardio's to evict
    asks = req("needs-8", gpus=8, priority=5)
    assert preemptions(NODES, quotas, running, [asks], ["cardio", "onco"]) == {"cardio-low": "needs-8"}
    too_big = req("needs-12", gpus=12, priority=5)
    assert preemptions(NODES, quotas, running, [too_big], ["cardio"]) == {}
    equal = req("same-priority", gpus=8, priority=1)
    assert preemptions(NODES, quotas, running, [equal], ["cardio"]) == {}


def test_two_waiting_jobs_do_not_count_on_the_same_freed_room():
    running = [run("low-a", "gpu-a", 8, priority=0, order=1), run("low-b", "gpu-b", 8, priority=0, order=2)]
    first, second = req("first", gpus=8, priority=5, order=1), req("second", gpus=8, priority=5, order=2)
    evicted = preemptions(NODES, [QueueQuota("cardio", 16)], running, [second, first], ["cardio"])
    assert evicted == {"low-b": "first", "low-a": "second"}
