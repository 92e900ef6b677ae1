#!/usr/bin/env bash
# Run a medlc study on a Slurm cluster: one array task per shard, the stages chained.
#
#   harness_configs/study_slurm.sh STUDY.yaml [N]          # from the repository root; N shards (default 4)
#
# Run without Slurm's environment, it submits itself three times: a job array for the
# sweep (task i trains block i of N of the grid), a job array for the scoring that starts
# once every sweep task succeeded (task i scores block i of N of the pairs), and one job
# that writes the report once every scoring task succeeded. `--shard i/N` means what it
# means everywhere in medlc (medlc_core/shard.py); the shards share the study's
# output_dir on a shared file system. A task that dies is simply resubmitted: every stage
# resumes (finished checkpoints and scored pairs are skipped).
#
# Adapt the #SBATCH lines (partition, account, GPUs per task for a tensor-parallel
# comparison model) to your cluster; MEDLC_SBATCH_ARGS adds flags to every submission.
#SBATCH --job-name=medlc-study
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=24:00:00
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

STUDY=${1:?usage: study_slurm.sh STUDY.yaml [N]}
N=${2:-4}
STAGE=${3:-submit}
MEDLC=${MEDLC:-medlc}

if [[ "$STAGE" == submit ]]; then
    extra=(${MEDLC_SBATCH_ARGS:-})
    sweep=$(sbatch --parsable "${extra[@]}" --array="0-$((N - 1))" "$0" "$STUDY" "$N" sweep)
    score=$(sbatch --parsable "${extra[@]}" --array="0-$((N - 1))" --dependency="afterok:${sweep}" "$0" "$STUDY" "$N" score)
    report=$(sbatch --parsable "${extra[@]}" --dependency="afterok:${score}" "$0" "$STUDY" "$N" report)
    echo "submitted: sweep ${sweep}, score ${score}, report ${report}"
    exit 0
fi

exec "$MEDLC" study "$STUDY" --stage "$STAGE" --shard "${SLURM_ARRAY_TASK_ID:-0}/$N"
