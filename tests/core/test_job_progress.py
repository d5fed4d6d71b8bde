"""A job carries its latest progress; ``status`` shows it while the job runs."""

from __future__ import annotations

from anytune.cli.render import job_lines
from anytune.types import Job, JobStatus, Metrics, status_phrase


def _job(status: JobStatus, metrics: Metrics | None) -> Job:
    return Job(
        id="ftjob-1",
        provider="memory",
        model="m",
        status=status,
        created_at=1,
        training_file="file-1",
        metrics=metrics,
    )


def test_metrics_survive_to_dict_and_from_dict() -> None:
    metrics = Metrics(step=40, total_steps=120, epoch=1.0, train_loss=1.25, extra={"grad": 0.5})
    job = _job(JobStatus.RUNNING, metrics)
    assert Job.from_dict(job.to_dict()) == job
    assert Job.from_dict(_job(JobStatus.RUNNING, None).to_dict()).metrics is None


def test_status_shows_step_percentage_loss_and_speed_of_a_running_job() -> None:
    metrics = Metrics(step=40, total_steps=120, train_loss=1.2345, tokens_per_second=1500.0)
    lines = "\n".join(job_lines(_job(JobStatus.RUNNING, metrics)))
    assert "progress:         step 40/120 (33%), train_loss 1.234, 1,500 tokens/s" in lines
    finished = "\n".join(job_lines(_job(JobStatus.SUCCEEDED, metrics)))
    assert "progress" not in finished


def test_status_phrases_read_as_english() -> None:
    assert status_phrase(JobStatus.SUCCEEDED) == "has already succeeded"
    assert status_phrase("cancelled") == "was cancelled"
    assert status_phrase("weird_new_status") == "has status weird_new_status"
