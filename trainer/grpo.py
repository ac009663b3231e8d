"""GRPO on our RL shards with the data pipeline's drawing environment.

Each step takes `questions_per_step` questions and rolls out `group_size` trajectories per
question through `rollout.conversation.Conversation` -- the same conversation and
`drawing.environment.DrawingEnv` the data pipeline uses, so budgets (a generated subset's own
from the RL run's config, e.g. 20 for mazes, else `max_calls`; `max_images`), environment
replies, rendered images and termination reasons follow docs/protocol.md.
The policy generates each assistant turn from the exact token sequence of the trajectory
so far (its own sampled ids, not a re-tokenisation of the text), the environment executes it
and appends its reply and rendered images as a user turn.

Rewards come from `trainer.reward.compute_score` (the shared scoring of `filters.scoring`, the
same file EasyR1 loads) on the decoded multi-turn response (`rollout_scores`); a question that
carries oracle facts (the RL record's `reward_truth`) is also grounded, and `grounding_weight`
> 0 makes grounding a dense term of the reward, as in every other trainer (docs/reward.md).
Advantages are group-normalised, (r - mean) / (std + 1e-6) per question. The loss is the
token-level policy gradient -sum(A * log p(token)) / (assistant tokens in the step) over the
policy's own tokens only: environment / user / system tokens are masked. One on-policy update
per batch of rollouts (so the PPO ratio is 1 and clipping is a no-op), log-probs at the
sampling temperature.
`kl_coef > 0` adds the k3 KL estimator to a frozen copy of the initial policy (off by
default, as in the published recipe).

Generation: transformers `generate` on the live weights (default). `generator="vllm"` uses
vLLM and syncs weights by saving the policy and restarting the engine every
`vllm_sync_steps` steps (correct, slow on CPU: an engine start is ~20 s); at scale use the
EasyR1 hand-off (`python -m drawreason.trainer handoff`), whose vLLM rollout syncs weights in place.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from drawreason.drawing.environment import EnvConfig
from drawreason.drawing.prompts import Prompts
from drawreason.rollout.conversation import Conversation, RolloutJob
from drawreason.teachers.base import SamplingParams, TeacherReply
from drawreason.trainer import common
from drawreason.trainer.data import (
    IM_START,
    Encoder,
    RLSample,
    load_rl_samples,
    open_image,
    render_message,
)
from drawreason.trainer.reward import compute_score

log = logging.getLogger(__name__)

STAGE = "train_grpo"


@dataclass
class GRPOConfig:
    """Options of `train_grpo` (CLI flags are the same names with dashes)."""

    data: str = ""  # run directory (rl/*.jsonl) or one RL .jsonl
    model: str = ""  # the policy to start from (usually the stage-2 SFT model)
    output: str = ""
    group_size: int = 8  # rollouts per question
    questions_per_step: int = 2
    steps: int = 100
    lr: float = 1e-6
    weight_decay: float = 0.0
    warmup_steps: int = 0
    kl_coef: float = 0.0
    max_grad_norm: float = 1.0
    # budgets (docs/protocol.md): a generated subset's own, from its generator's section of
    # the RL run's config (a maze's 20); max_calls for every other question
    max_calls: int = 10
    max_images: int = 42
    max_length: int = 8192  # a trajectory whose context exceeds this ends as turn_truncated
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024  # per assistant turn
    reward: str = "acc_gated"  # acc_gated | mean (trainer.reward.compute_score variant)
    # > 0: the reward's dense grounding term on questions with oracle facts (0: off)
    grounding_weight: float = 0.0
    generator: str = "transformers"  # transformers | vllm
    vllm_sync_steps: int = 1
    prompts: str = ""  # prompt template dir (default: the pipeline's templates)
    freeze_vision: bool = True
    freeze_projector: bool = True
    bf16: str = "auto"
    pure_bf16: bool = False
    gradient_checkpointing: bool = False
    save_steps: int = 0  # 0 = only at the end
    save_total_limit: int = 2
    resume: bool = False
    seed: int = 0
    log_every: int = 1
    stop_after_steps: int = 0
    quiet: bool = False
    warn_flat_steps: int = 5  # warn after this many steps with no reward variance in any group

    def __post_init__(self) -> None:
        if self.grounding_weight < 0:
            raise ValueError(f"grounding_weight must be >= 0, got {self.grounding_weight}")


@dataclass
class PolicyRollout:
    """One trajectory: the pipeline's Conversation (environment, messages, record) plus the
    exact token ids the policy saw and produced, and which of them it produced."""

    conv: Conversation
    sample: RLSample
    group: int
    ids: list[int] = field(default_factory=list)
    trained: list[bool] = field(default_factory=list)
    prompt_len: int = 0
    reward: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    response: str = ""


def _seed(*parts: Any) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class Policy:
    """Token-level helpers shared by the generators and the loss."""

    def __init__(self, encoder: Encoder, config: GRPOConfig) -> None:
        self.encoder = encoder
        self.config = config
        self.tok = encoder.tokenizer
        self.stop_ids = [encoder.im_end_id]
        eos = self.tok.convert_tokens_to_ids("<|endoftext|>")
        if isinstance(eos, int) and eos not in self.stop_ids:
            self.stop_ids.append(eos)
        self._visual_cache: dict[int, Any] = {}

    def append(self, rollout: PolicyRollout, text: str, images: Sequence[Any]) -> None:
        """Append environment-side text (not trained) with its new images' visual tokens."""
        counts = []
        for image in images:
            grid = self.encoder.images([image])["image_grid_thw"]
            counts += self.encoder.image_tokens(grid)
        ids = self.encoder.tokenize(self.encoder.expand(text, counts))
        rollout.ids += ids
        rollout.trained += [False] * len(ids)

    def visual(self, rollout: PolicyRollout) -> dict[str, Any]:
        """pixel_values / image_grid_thw of all images of the trajectory so far."""
        import torch

        images = rollout.conv.env.images
        parts = []
        for image in images:
            key = id(image)
            if key not in self._visual_cache:
                self._visual_cache[key] = (image, self.encoder.images([image]))
            parts.append(self._visual_cache[key][1])
        return {
            "pixel_values": torch.cat([p["pixel_values"] for p in parts]),
            "image_grid_thw": torch.cat([p["image_grid_thw"] for p in parts]),
        }

    def clear_cache(self) -> None:
        self._visual_cache.clear()

    def inputs(self, rollout: PolicyRollout) -> dict[str, Any]:
        import torch

        ids = torch.tensor([rollout.ids])
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), **self.visual(rollout)}
        if self.encoder.mm_types:
            batch["mm_token_type_ids"] = (ids == self.encoder.image_pad_id).long()
        return batch


class HFGenerator:
    """Samples assistant turns with transformers `generate` on the live policy weights. The
    first turn of a group shares one prompt, so it is one call with num_return_sequences."""

    def __init__(self, model: Any, policy: Policy, config: GRPOConfig) -> None:
        self.model = model
        self.policy = policy
        self.config = config

    def generate(self, rollouts: Sequence[PolicyRollout], seed: int) -> list[tuple[list[int], str]]:
        import torch

        out: dict[int, tuple[list[int], str]] = {}
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(rollouts):
            groups.setdefault((tuple(r.ids), len(r.conv.env.images)), []).append(i)
        self.model.eval()
        dtype = common.model_dtype(self.model)
        for n, members in enumerate(groups.values()):
            torch.manual_seed(_seed(seed, n))
            batch = common.to_device(self.policy.inputs(rollouts[members[0]]), dtype)
            with torch.no_grad(), common.autocast(common.use_bf16(self.config.bf16)):
                sequences = self.model.generate(
                    **batch,
                    do_sample=self.config.temperature > 0,
                    temperature=self.config.temperature or None,
                    top_p=self.config.top_p,
                    top_k=0,
                    max_new_tokens=self.config.max_new_tokens,
                    num_return_sequences=len(members),
                    eos_token_id=self.policy.stop_ids,
                    pad_token_id=self.policy.encoder.pad_id,
                )
            prompt_len = batch["input_ids"].shape[1]
            for i, row in zip(members, sequences[:, prompt_len:].tolist(), strict=True):
                out[i] = _cut(row, self.policy.stop_ids)
        self.model.train()
        return [out[i] for i in range(len(rollouts))]


def _cut(row: list[int], stop_ids: Sequence[int]) -> tuple[list[int], str]:
    """Generated ids up to and including the first stop token; finish reason."""
    for k, token in enumerate(row):
        if token in stop_ids:
            return row[: k + 1], "stop"
    return row, "length"


def _position_limit(model: Any) -> int | None:
    """The longest sequence the model's position embeddings cover (vLLM refuses a longer
    max_model_len), from the text config of a VLM or the config itself."""
    config = model.config
    text = getattr(config, "text_config", None) or config
    value = getattr(text, "max_position_embeddings", None) or getattr(
        config, "max_position_embeddings", None
    )
    return int(value) if value else None


class VLLMGenerator:
    """vLLM on a saved copy of the policy, restarted every `vllm_sync_steps` steps (the weight
    sync). Prompts go in as token ids with their images, so the trajectory's ids stay exact."""

    def __init__(self, model: Any, processor: Any, policy: Policy, config: GRPOConfig) -> None:
        self.model = model
        self.processor = processor
        self.policy = policy
        self.config = config
        self.llm: Any = None
        self.synced_at = -1
        self.dir = Path(config.output) / "_vllm_policy"

    def sync(self, step: int) -> None:
        if self.llm is not None and step - self.synced_at < self.config.vllm_sync_steps:
            return
        from vllm import LLM

        self.shutdown()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.model.save_pretrained(self.dir)
        self.processor.save_pretrained(self.dir)
        max_len = min(self.config.max_length, _position_limit(self.model) or self.config.max_length)
        self.llm = LLM(
            model=str(self.dir),
            dtype="bfloat16",
            max_model_len=max_len,
            enforce_eager=True,
            limit_mm_per_prompt={"image": self.config.max_images, "video": 0},
            enable_chunked_prefill=False,
            max_num_batched_tokens=2 * max_len,
            seed=self.config.seed,
        )
        self.synced_at = step

    def generate(self, rollouts: Sequence[PolicyRollout], seed: int) -> list[tuple[list[int], str]]:
        from vllm import SamplingParams as VSamplingParams

        prompts, params = [], []
        for n, r in enumerate(rollouts):
            prompts.append(
                {
                    "prompt_token_ids": list(r.ids),
                    "multi_modal_data": {"image": list(r.conv.env.images)},
                }
            )
            params.append(
                VSamplingParams(
                    temperature=self.config.temperature,
                    top_p=self.config.top_p,
                    max_tokens=self.config.max_new_tokens,
                    stop_token_ids=self.policy.stop_ids,
                    seed=_seed(seed, n),
                )
            )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        result = []
        for o in outputs:
            ids = list(o.outputs[0].token_ids)
            result.append(_cut(ids, self.policy.stop_ids))
        return result

    def shutdown(self) -> None:
        if self.llm is not None:
            del self.llm
            self.llm = None


def make_rollouts(
    samples: Sequence[RLSample],
    group_size: int,
    policy: Policy,
    prompts: Prompts,
    config: GRPOConfig,
    step: int,
) -> list[PolicyRollout]:
    """`group_size` fresh trajectories per sample, prompts exactly as the data pipeline writes
    them (pipelines/real_data.py: system with the first image's size and the budget, question
    with image index lines, options and the answer-type suffix)."""
    rollouts = []
    params = SamplingParams(
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_new_tokens,
        seed=None,
    )
    for g, sample in enumerate(samples):
        images = tuple(open_image(p) for p in sample.images)
        calls = sample.max_calls or config.max_calls
        env_config = EnvConfig(calls, config.max_images)
        sizes = [im.size for im in images]
        system = prompts.system(*sizes[0], env_config.max_calls, len(sizes))
        user = prompts.question(
            sample.question, sample.options, sample.question_type, sizes, sample.data_type
        )
        for k in range(group_size):
            job = RolloutJob(f"{sample.id}@{step}#{k}", images, system, user, k, env_config)
            conv = Conversation(job, "policy", params, env_config, prompts)
            rollout = PolicyRollout(conv, sample, g)
            text = (
                render_message("system", system)
                + render_message("user", conv.user)
                + f"{IM_START}assistant\n"
            )
            policy.append(
                rollout,
                text.replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>"),
                images,
            )
            rollout.prompt_len = len(rollout.ids)
            rollouts.append(rollout)
    return rollouts


def run_rollouts(
    rollouts: Sequence[PolicyRollout], generator: Any, policy: Policy, config: GRPOConfig, seed: int
) -> None:
    """Advance all trajectories in lock step until every one has ended."""
    turn = 0
    while True:
        active = [r for r in rollouts if not r.conv.done]
        if not active:
            break
        too_long = [r for r in active if len(r.ids) >= config.max_length]
        for r in too_long:  # the context is full: the turn is truncated, as the env defines it
            _, _, request = r.conv.request()
            r.conv.advance(TeacherReply("", "length"), request, False, 0.0)
        active = [r for r in active if not r.conv.done]
        if not active:
            break
        started = time.perf_counter()
        replies = generator.generate(active, _seed(seed, turn))
        latency = (time.perf_counter() - started) / len(active)
        for r, (ids, finish) in zip(active, replies, strict=True):
            body = ids[:-1] if finish == "stop" else ids
            text = policy.tok.decode(body, skip_special_tokens=False)
            _, _, request = r.conv.request()
            reply = TeacherReply(text, finish, len(r.ids), len(ids))
            images_before = len(r.conv.env.images)
            r.conv.advance(reply, request, False, latency)
            r.ids += ids
            r.trained += [True] * len(ids)
            if not r.conv.done:
                env_message = r.conv.messages[-1]
                new_images = r.conv.env.images[images_before:]
                prefix = "\n" if finish == "stop" else ""
                text = prefix + render_message("user", env_message.text) + f"{IM_START}assistant\n"
                policy.append(
                    r,
                    text.replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>"),
                    new_images,
                )
        turn += 1
    for r in rollouts:
        r.response = policy.tok.decode(r.ids[r.prompt_len :], skip_special_tokens=False)
        r.scores = rollout_scores(r.response, r.sample, config)
        r.reward = r.scores["overall"]


def rollout_scores(response: str, sample: RLSample, config: GRPOConfig) -> dict[str, float]:
    """The scores of one decoded response to `sample`: `trainer.reward.compute_score` with the
    config's variant, the sample's oracle facts (if any) and the config's grounding weight."""
    return compute_score(
        response,
        sample.answer,
        sample.question_type,
        sample.data_type,
        config.reward,
        oracle=sample.oracle,
        grounding_weight=config.grounding_weight,
    )


def _grounding_mean(rollouts: Sequence[PolicyRollout]) -> dict[str, float]:
    """{"grounding": mean over the rollouts whose question has oracle facts}, or {}."""
    found = [r.scores["grounding"] for r in rollouts if "grounding" in r.scores]
    return {"grounding": round(statistics.fmean(found), 4)} if found else {}


def group_advantages(rollouts: Sequence[PolicyRollout], eps: float = 1e-6) -> list[float]:
    """(r - mean) / (std + eps) within each question's group (unbiased std, as verl)."""
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rollouts):
        groups.setdefault(r.group, []).append(i)
    adv = [0.0] * len(rollouts)
    for members in groups.values():
        rewards = [rollouts[i].reward for i in members]
        mean = statistics.fmean(rewards)
        std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
        for i in members:
            adv[i] = (rollouts[i].reward - mean) / (std + eps)
    return adv


def token_logprobs(model: Any, policy: Policy, rollout: PolicyRollout, temperature: float) -> Any:
    """log p of every next token (at the sampling temperature), shape [len(ids) - 1]."""
    import torch

    batch = common.to_device(policy.inputs(rollout), common.model_dtype(model))
    logits = model(**batch, use_cache=False).logits[0, :-1].float()
    if temperature > 0:
        logits = logits / temperature
    targets = batch["input_ids"][0, 1:]
    return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]


def _questions(n: int, per_step: int, seed: int, step: int) -> list[int]:
    """Question indices for `step`: epochs over a seeded shuffle, reproducible from step."""
    picked = []
    for k in range(step * per_step, (step + 1) * per_step):
        epoch, pos = divmod(k, n)
        order = list(range(n))
        random.Random(f"{seed}:{epoch}").shuffle(order)
        picked.append(order[pos])
    return picked


def train_grpo(config: GRPOConfig, overwrite: bool = False) -> dict[str, Any]:
    """Run (or resume) GRPO; returns a summary with the per-step mean rewards."""
    import torch

    if not config.data or not config.model or not config.output:
        raise ValueError("train_grpo needs data, model and output")
    common.check_model_path(config.model)
    if config.group_size < 2:
        raise ValueError("group_size must be >= 2 (advantages are normalised within a group)")
    output = Path(config.output)
    resume_from = common.prepare_output(output, config.resume, overwrite)
    common.seed_all(config.seed)
    processor = common.load_processor(config.model)
    encoder = Encoder(processor)
    policy = Policy(encoder, config)
    prompts = Prompts(config.prompts or None)
    samples = load_rl_samples(config.data)
    if not samples:
        raise ValueError(f"{config.data}: no scorable RL records")

    # Resume loads the checkpoint's weights with from_pretrained (its key mapping).
    model_path = str(resume_from) if resume_from is not None else config.model
    model = common.load_model(model_path, config.pure_bf16, config.gradient_checkpointing)
    counts = common.freeze(model, config.freeze_vision, config.freeze_projector)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    from transformers import get_constant_schedule_with_warmup

    scheduler = get_constant_schedule_with_warmup(optimizer, config.warmup_steps)
    reference = None
    if config.kl_coef > 0:
        reference = common.load_model(config.model, config.pure_bf16)
        reference.eval().requires_grad_(False)
    step = 0
    if resume_from is not None:
        state = common.load_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = state["step"]
        common.set_rng_state(state["rng"])
    generator: Any
    if config.generator == "vllm":
        generator = VLLMGenerator(model, processor, policy, config)
    elif config.generator == "transformers":
        generator = HFGenerator(model, policy, config)
    else:
        raise ValueError(f"unknown generator {config.generator!r}; known: transformers, vllm")

    progress = common.Progress(output, STAGE, config.quiet)
    progress.write(
        {
            "event": "start" if resume_from is None else "resume",
            "step": step,
            "questions": len(samples),
            **counts,
        }
    )
    bf16 = common.use_bf16(config.bf16)
    stopped_at = config.stop_after_steps and step + config.stop_after_steps
    history: list[dict[str, Any]] = []

    def save() -> Path:
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "rng": common.rng_state(),
            "config": asdict(config),
        }
        return common.save_checkpoint(
            output, step, model, processor, state, config.save_total_limit
        )

    model.train()
    flat_steps = 0  # steps in a row with zero reward variance in every group
    try:
        while step < config.steps and not (stopped_at and step >= stopped_at):
            started = time.perf_counter()
            picked = [
                samples[i]
                for i in _questions(len(samples), config.questions_per_step, config.seed, step)
            ]
            rollouts = make_rollouts(picked, config.group_size, policy, prompts, config, step)
            if isinstance(generator, VLLMGenerator):
                generator.sync(step)
            run_rollouts(rollouts, generator, policy, config, _seed(config.seed, "gen", step))
            gen_s = time.perf_counter() - started
            advantages = group_advantages(rollouts)
            flat_steps = flat_steps + 1 if not any(advantages) else 0
            if flat_steps == config.warn_flat_steps:
                log.warning(
                    "train_grpo: %d steps in a row where every group's rollouts got the same "
                    "reward (mean %.3f): zero advantage, nothing to learn; the policy needs "
                    "questions it sometimes gets right (rl_data pass_rate) or a stronger start",
                    flat_steps,
                    statistics.fmean(r.reward for r in rollouts),
                )
            n_tokens = sum(sum(r.trained) for r in rollouts)
            pg_total, kl_total = 0.0, 0.0
            for r, adv in zip(rollouts, advantages, strict=True):
                if adv == 0.0 and reference is None:
                    continue  # no gradient from this trajectory
                mask = torch.tensor(r.trained[1:], dtype=torch.float32, device=common.device())
                with common.autocast(bf16):
                    logp = token_logprobs(model, policy, r, config.temperature)
                loss = -(adv * logp * mask).sum() / max(n_tokens, 1)
                pg_total += float(loss.detach())
                if reference is not None:
                    with torch.no_grad(), common.autocast(bf16):
                        ref = token_logprobs(reference, policy, r, config.temperature)
                    delta = ref - logp
                    kl = ((torch.exp(delta) - delta - 1) * mask).sum() / max(n_tokens, 1)
                    loss = loss + config.kl_coef * kl
                    kl_total += float(kl.detach())
                loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            policy.clear_cache()
            rewards = [r.reward for r in rollouts]
            entry = {
                "step": step,
                "reward_mean": round(statistics.fmean(rewards), 4),
                "accuracy": round(statistics.fmean(r.scores["accuracy"] for r in rollouts), 4),
                "format": round(statistics.fmean(r.scores["format"] for r in rollouts), 4),
                **_grounding_mean(rollouts),
                "turns": round(statistics.fmean(len(r.conv.env.turns) for r in rollouts), 2),
                "assistant_tokens": n_tokens,
                "pg_loss": round(pg_total, 5),
                "kl": round(kl_total, 6),
                "grad_norm": round(float(grad_norm), 4),
                "rollouts_per_s": round(len(rollouts) / max(gen_s, 1e-9), 3),
                "step_s": round(time.perf_counter() - started, 2),
            }
            terminations: dict[str, int] = {}
            for r in rollouts:
                t = r.conv.record().termination
                terminations[t] = terminations.get(t, 0) + 1
            entry["terminations"] = terminations
            entry["sample_response"] = rollouts[0].response[:200]
            history.append(entry)
            step += 1
            if step % config.log_every == 0 or step == config.steps:
                progress.write(entry)
            if config.save_steps and step % config.save_steps == 0:
                save()
    finally:
        if isinstance(generator, VLLMGenerator):
            generator.shutdown()
    last = save()
    final = None
    if step >= config.steps:
        final = common.save_final(
            model, processor, output / "final", common.source_dtype(config.model)
        )
    progress.write({"event": "end", "step": step, "checkpoint": str(last)})
    return {
        "steps": step,
        "history": history,
        "rewards": [h["reward_mean"] for h in history],
        "checkpoint": str(last),
        "final_model": str(final) if final else "",
        **counts,
    }


def run_train_grpo(
    config: GRPOConfig, output: str, beam_argv: Sequence[str] = (), overwrite: bool = False
) -> dict[str, Any]:
    """Stage-registry entry point (`--stage train_grpo`); `output` is the training output dir
    unless the config names one. `beam_argv` is unused."""
    common.require_torch()
    if not config.output:
        config.output = output
    result = train_grpo(config, overwrite)
    rewards = result["rewards"]
    text = (
        f"mean reward {rewards[0]:.3f} (first step) -> {rewards[-1]:.3f} (last)"
        if rewards
        else "no step run"
    )
    summary = (
        f"train_grpo: {result['steps']}/{config.steps} steps, {text}; "
        f"checkpoint {result['checkpoint']}"
    )
    return {"stage": STAGE, "accounted": True, "summary": summary, **result}


def evaluate_policy(
    config: GRPOConfig, model_path: str, rollouts_per_question: int = 8
) -> dict[str, Any]:
    """Mean reward / accuracy / format of `model_path` over every question of `config.data`,
    `rollouts_per_question` sampled trajectories each (same environment, seeded; no update)."""
    import torch

    common.seed_all(config.seed)
    processor = common.load_processor(model_path)
    policy = Policy(Encoder(processor), config)
    prompts = Prompts(config.prompts or None)
    samples = load_rl_samples(config.data)
    model = common.load_model(model_path)
    generator = HFGenerator(model, policy, config)
    rollouts = make_rollouts(samples, rollouts_per_question, policy, prompts, config, -1)
    with torch.no_grad():
        run_rollouts(rollouts, generator, policy, config, _seed(config.seed, "eval"))
    return {
        "reward_mean": statistics.fmean(r.reward for r in rollouts),
        "accuracy": statistics.fmean(r.scores["accuracy"] for r in rollouts),
        "format": statistics.fmean(r.scores["format"] for r in rollouts),
        "rollouts": len(rollouts),
    }
