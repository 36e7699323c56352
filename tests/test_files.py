"""Writing files (`latex -o`, `plot -o`, `export DIR`): regular files only, whole or not at all,
and every failure one line naming the path, with exit status 2.

No test here writes outside its tmp_path; the device case guards os.replace and os.link so that
even a regression could not replace /dev/null.
"""

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from symopt import cli, export
from symopt.plot import PLOTS

from conftest import require

ROOT = Path(__file__).resolve().parents[1]


def run(runner, *args):
    result = runner.invoke(cli.main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- only regular files ----------------------------------------------------------------------------------
@pytest.fixture
def guarded(monkeypatch):
    """os.replace and os.link refuse to touch anything in /dev, whatever the code under test does."""
    real_replace, real_link = os.replace, os.link

    def replace(src, dst, *args, **kwargs):
        if os.fspath(dst).startswith("/dev/"):
            os.unlink(src)
            raise AssertionError(f"tried to replace {dst}")
        return real_replace(src, dst, *args, **kwargs)

    def link(src, dst, *args, **kwargs):
        if os.fspath(dst).startswith("/dev/"):
            raise AssertionError(f"tried to link over {dst}")
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "link", link)


def test_a_device_is_not_replaced_even_with_force(runner, guarded):
    before = os.stat("/dev/null")
    result = run(runner, "latex", "adam", "-o", "/dev/null", "--force")
    one_line_error(result, "/dev/null is a character device: symopt writes only regular files")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert not [name for name in os.listdir("/dev") if name.startswith((".null", ".symopt-"))]


def test_a_named_pipe_is_not_replaced(runner, tmp_path):
    fifo = tmp_path / "pipe.tex"
    os.mkfifo(fifo)
    for command in (["latex", "adam"], ["plot", "coupling"]):
        result = run(runner, *command, "-o", fifo, "--force")
        one_line_error(result, f"{fifo} is a named pipe")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def test_a_symbolic_link_is_not_replaced(runner, tmp_path):
    real = tmp_path / "real.tex"
    real.write_text("mine")
    link = tmp_path / "link.tex"
    link.symlink_to(real)
    result = run(runner, "latex", "adam", "-o", link, "--force")
    one_line_error(result, f"{link} is a symbolic link")
    assert link.is_symlink() and real.read_text() == "mine"


def test_empty_and_folder_names_are_errors(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(runner, "latex", "adam", "-o", "")
    one_line_error(result, "the file name is empty")
    assert result.stdout == ""  # not printed instead
    result = run(runner, "plot", "coupling", "-o", "")
    one_line_error(result, "the file name is empty")
    for name in ("newdir/", f"{tmp_path}/newdir/"):
        result = run(runner, "latex", "adam", "-o", name)
        one_line_error(result, "ends in '/'")
    for name in ("newdir/.", "newdir/.."):
        one_line_error(run(runner, "latex", "adam", "-o", name), "names a folder")
    assert list(tmp_path.iterdir()) == []  # no file called newdir
    (tmp_path / "folder").mkdir()
    result = run(runner, "latex", "adam", "-o", "folder", "--force")
    assert result.exit_code == 2 and (tmp_path / "folder").is_dir()


# --- every OSError is one line naming the path --------------------------------------------------------------
def unwritable_folder(tmp_path) -> Path:
    """A folder this process cannot create files in: a read-only one, or under /proc for root."""
    if os.geteuid() == 0:  # root writes into a read-only folder anyway
        return Path("/proc/self")
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("where", ["sys", "proc", "readonly", "missing", "long", "file-as-folder"])
def test_os_errors_are_one_line_and_exit_2(runner, tmp_path, where):
    (tmp_path / "a-file").write_text("")
    path = {
        "sys": "/sys/adam.tex",
        "proc": "/proc/adam.tex",
        "readonly": unwritable_folder(tmp_path) / "adam.tex",
        "missing": tmp_path / "no" / "such" / "adam.tex",
        "long": tmp_path / ("a" * 300 + ".tex"),
        "file-as-folder": tmp_path / "a-file" / "adam.tex",
    }[where]
    result = run(runner, "latex", "adam", "-o", path)
    one_line_error(result, str(path))
    assert not os.path.lexists(path)
    assert leftovers(tmp_path) == []


def test_a_full_disk_leaves_the_old_file_and_no_temporary(runner, tmp_path, monkeypatch):
    target = tmp_path / "adam.tex"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = run(runner, "latex", "adam", "-o", target, "--force")
    one_line_error(result, f"cannot write {target}: No space left on device")
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_a_file_is_replaced_atomically(runner, tmp_path, monkeypatch):
    target = tmp_path / "adam.tex"
    target.write_text("old")
    target.chmod(0o640)
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renames.append((Path(src), Path(dst))), real_replace(src, dst))[1])
    result = run(runner, "latex", "adam", "-o", target, "--force")
    assert result.exit_code == 0 and target.read_text().startswith(r"\begin{aligned}")
    ((src, dst),) = renames
    assert dst == target and src.parent == tmp_path and src.name.endswith(".tmp")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert leftovers(tmp_path) == []


def test_a_failed_rename_removes_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "x.md"
    target.write_text("old")

    def fail(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(export.SymoptError, match=f"cannot write {target}: Permission denied"):
        export.write(target, "new", force=True)
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_without_force_a_file_is_never_replaced(tmp_path):
    target = tmp_path / "x.md"
    export.write(target, "first")
    with pytest.raises(export.SymoptError, match="exists: use --force"):
        export.write(target, "second")
    assert target.read_text() == "first" and leftovers(tmp_path) == []


# --- plot ------------------------------------------------------------------------------------------------
def test_plot_checks_the_file_before_drawing(runner, tmp_path, monkeypatch):
    from symopt import plot

    def draw(*args, **kwargs):
        raise AssertionError("drew the figure for a file it cannot write")

    monkeypatch.setattr(plot, "coupling_figure", draw)
    taken = tmp_path / "coupling.png"
    taken.write_bytes(b"mine")
    one_line_error(run(runner, "plot", "coupling", "-o", taken), "exists: use --force")
    one_line_error(run(runner, "plot", "coupling", "-o", tmp_path / "no" / "coupling.png"), "no folder")
    one_line_error(run(runner, "plot", "coupling", "-o", "/sys/coupling.png"), "/sys/coupling.png")
    assert taken.read_bytes() == b"mine"


@pytest.mark.parametrize("name", PLOTS)
def test_plot_draws_every_registered_figure(runner, tmp_path, monkeypatch, name):
    require("matplotlib", install="symopt-toolkit[plot]")
    from matplotlib.figure import Figure

    from symopt import plot

    drawn = []
    monkeypatch.setattr(plot, f"{name}_figure", lambda: drawn.append(name) or Figure())
    result = run(runner, "plot", name, "-o", tmp_path / f"{name}.svg")
    assert result.exit_code == 0 and drawn == [name], result.output
    assert (tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    assert f"{name}.png" in " ".join(run(runner, "export", "--help").output.split())


def test_plot_help_says_it_writes_a_file(runner):
    out = " ".join(run(runner, "plot", "--help").output.split())
    assert "instead of printing" not in out and "The file to draw into" in out


# --- export ----------------------------------------------------------------------------------------------
@pytest.fixture
def small_documents(monkeypatch):
    """export.documents replaced by three files, so that these tests check the writing, quickly."""
    files = {"README.md": f"{export.GENERATED}\n\n# index\n", "adam.md": f"{export.GENERATED}\n\n# adam\n",
             export.FIGURE: b"\x89PNG not really"}
    monkeypatch.setattr(export, "documents", lambda figure=True: dict(files) if figure else
                        {k: v for k, v in files.items() if k != export.FIGURE})
    return files


def test_export_empty_name_is_an_error(runner, tmp_path, monkeypatch, small_documents):
    monkeypatch.chdir(tmp_path)  # where the old code wrote: the current folder
    one_line_error(run(runner, "export", "", "--no-figure"), "the folder name is empty")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_folder_with_a_users_files(runner, tmp_path, small_documents):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "README.md").write_text("# my own notes\n")
    result = run(runner, "export", folder, "--no-figure")
    one_line_error(result, f"{folder} holds files symopt export did not write (README.md)", "--force")
    assert (folder / "README.md").read_text() == "# my own notes\n" and sorted(os.listdir(folder)) == ["README.md"]
    (folder / "keep.txt").write_text("keep")
    result = run(runner, "export", folder, "--no-figure", "--force")
    assert result.exit_code == 0, result.output
    assert (folder / "README.md").read_text().startswith(export.GENERATED)
    assert (folder / "keep.txt").read_text() == "keep"  # other files are left alone


def test_export_rewrites_its_own_output(runner, tmp_path, small_documents):
    folder = tmp_path / "out"
    assert run(runner, "export", folder).exit_code == 0
    assert sorted(os.listdir(folder)) == sorted(small_documents)
    (folder / "adam.md").write_text(f"{export.GENERATED}\n\nstale\n")
    result = run(runner, "export", folder)
    assert result.exit_code == 0 and (folder / "adam.md").read_text() == small_documents["adam.md"]


def test_export_treats_a_lone_figure_or_a_subfolder_as_foreign(runner, tmp_path, small_documents):
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / export.FIGURE).write_bytes(b"my figure")
    one_line_error(run(runner, "export", lone), "coupling.png")
    sub = tmp_path / "sub"
    assert run(runner, "export", sub, "--no-figure").exit_code == 0
    (sub / "drafts").mkdir()
    one_line_error(run(runner, "export", sub, "--no-figure"), "(drafts)")


def test_export_without_matplotlib_creates_nothing(runner, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    target = tmp_path / "newdir"
    result = run(runner, "export", target)
    one_line_error(result, 'pip install "symopt-toolkit[plot]"', "--no-figure")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_export_writes_the_whole_set_then_renames_it_into_place(runner, tmp_path, monkeypatch, small_documents):
    renames, real_rename = [], os.rename

    def rename(src, dst):
        renames.append((Path(src).name, Path(dst).name, sorted(os.listdir(src))))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    assert run(runner, "export", tmp_path / "out").exit_code == 0
    [(source, destination, held)] = renames
    assert source.startswith(".symopt-export-out-") and destination == "out" and held == sorted(small_documents)
    assert os.listdir(tmp_path) == ["out"]


def test_a_failed_export_removes_the_folder_it_created(runner, tmp_path, monkeypatch, small_documents):
    calls = []
    real_fsync = os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "a" / "b"
    result = run(runner, "export", target)
    one_line_error(result, "No space left on device", str(target))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["file-as-parent", "sys", "long"])
def test_export_os_errors_are_one_line(runner, tmp_path, where, small_documents):
    (tmp_path / "a-file").write_text("")
    target = {"file-as-parent": tmp_path / "a-file" / "out", "sys": "/sys/symopt-out",
              "long": tmp_path / ("d" * 300)}[where]
    one_line_error(run(runner, "export", target, "--no-figure"), str(target))
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


@pytest.mark.xdist_group("documents")  # one process computes derivations/ once
def test_export_with_the_real_documents(runner, tmp_path):
    """The whole export, without the figure: every document, each starting with the marker."""
    folder = tmp_path / "derivations"
    result = run(runner, "export", folder, "--no-figure")
    assert result.exit_code == 0
    names = sorted(os.listdir(folder))
    assert {"README.md", "optimization.md", "adam.md", "coupling.md"} <= set(names)
    assert all(n.endswith(".md") for n in names)
    assert all((folder / n).read_text().startswith(export.GENERATED) for n in names)
    assert run(runner, "export", folder, "--no-figure").exit_code == 0  # its own output: no --force needed
