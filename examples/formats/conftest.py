from __future__ import annotations

from pytest_llmeval import solver


@solver("think_then_answer")
async def think_then_answer(sample, generate):
    """Ask for the reasoning first, then for the answer alone."""
    question = f"What is the capital of {sample['country']}?"
    thought = await generate(f"Think step by step: {question}")
    return await generate(
        [
            {"role": "user", "content": question},
            {"role": "assistant", "content": thought.text},
            {"role": "user", "content": "Now reply with the city's name only."},
        ],
        max_tokens=16,
    )
