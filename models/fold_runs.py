"""What the cross-validation follow-ups (pil_protocol.py, dedup_folds.py, search_folds.py)
share: running imsat with its errors shown, and finding the folds of a models/cv_photo.sh work
folder that hold a trained model."""
import os, re, shlex, subprocess, sys


def run_imsat(cmd):
    """imsat's stdout. On failure the command and imsat's stderr are printed: captured, they
    would leave only an exit status."""
    try:
        return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"{cmd[0]}: not found (give the imsat binary as IMSAT)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"failed with exit status {e.returncode}: {shlex.join(cmd)}\n{e.stderr.rstrip()}")


def trained_folds(work, need_copies=False):
    """The fold folders of WORK that hold a trained model, by number (fold10 after fold9):
    after `ONLY_FOLD=k models/cv_photo.sh` the other folds have their photos but no model.
    With `need_copies`, each must hold models/pil_protocol.py's copies too."""
    if not os.path.isdir(work):
        sys.exit(f"{work}: not a folder")
    numbered = [(int(m[1]), d) for d in os.listdir(work)
                if (m := re.fullmatch(r"fold([0-9]+)", d)) and os.path.isdir(os.path.join(work, d))]
    folds = []
    for _, d in sorted(numbered):
        if os.path.exists(os.path.join(work, d, "run", "model.int8.onnx")):
            folds.append(d)
        else:
            print(f"{d}: skipped, no trained model (run/model.int8.onnx)", file=sys.stderr)
    if not folds:
        sys.exit(f"{work}: no fold folder with a trained model (fold*/run/model.int8.onnx): "
                 "is it a finished models/cv_photo.sh run?")
    # The copies come from models/pil_protocol.py, which cv_photo.sh skips for one fold.
    for d in folds if need_copies else []:
        if not os.path.isdir(os.path.join(work, d, "pil_copies")):
            sys.exit(f"{os.path.join(work, d)}: no pil_copies/ (run models/pil_protocol.py {work} first)")
    return folds
