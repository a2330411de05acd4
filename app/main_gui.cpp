// compression-workbench: the Qt Widgets front end. Argument parsing and wiring only; the window lives in ui/.
//
//   compression-workbench [--open MODEL] [--data DATA] [--limit N] [--evaluate] [--sensitivity] [--profile]
//                         [--screenshot PNG] [--inspect LAYER [--bits N|float] [--prune RATIO]] [--recipe R.json]
//                         [--compress] [--generate PROMPT] [--lm-sensitivity] [--lm-compress R.json[,R2.json...]]
//
// Without arguments the built-in demo opens with the Fashion-MNIST test set selected for Evaluate.
// --screenshot loads (and with --evaluate, evaluates), renders the window to a PNG and exits: 0 on
// success, 1 with a message on stderr otherwise. --sensitivity runs the sensitivity sweep and shows its tab
// (the screenshot waits for the sweep). --profile times the model's nodes (Model → Profile Latency…) and the
// screenshot is of the dialog that shows them. --inspect selects a layer and shows the Inspect tab (its
// activation histogram is collected before the screenshot); --bits / --prune set its what-if controls.
// --recipe loads a recipe into the Compress tab and shows it; --compress runs it as a compression job
// (evaluated on --limit samples, 1000 if unset) and the screenshot waits for the variant.
// A language model (a .gguf / .safetensors file, a Hugging Face folder, "demo-lm") takes --inspect TENSOR (its
// statistics computed before the screenshot), --evaluate (perplexity on --data TEXT, "brown:heldout" or a text
// file, at most --limit chunks) and --generate PROMPT (the screenshot waits for the text); --lm-compress loads each
// recipe into the Compress tab in turn and runs it (evaluated on --data TEXT, at most --limit chunks; the screenshot
// waits for the last variant).
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QImage>
#include <QPixmap>
#include <QSaveFile>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTimer>

#include <cstdio>
#include <functional>
#include <memory>

#include "core/base/version.h"
#include "ui/mainwindow.h"
#include "ui/views/compareview.h"
#include "ui/views/compressview.h"
#include "ui/views/distillview.h"
#include "ui/views/inspectview.h"
#include "ui/views/lmcompressview.h"
#include "ui/views/lmevaluateview.h"
#include "ui/views/profiledialog.h"
#include "ui/views/lmgenerateview.h"
#include "ui/views/lminspectview.h"
#include "ui/views/lmsensitivityview.h"
#include "ui/views/lmworkspace.h"
#include "ui/views/sensitivityview.h"

namespace {

void fail(const QString &message)
{
    std::fprintf(stderr, "compression-workbench: %s\n", qPrintable(message));
    QCoreApplication::exit(1);
}

} // namespace

int main(int argc, char *argv[])
{
    QApplication app(argc, argv);
    QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
    QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench"));
    QCoreApplication::setApplicationVersion(QString::fromStdString(std::string(cw::toolVersion()) + " (" + cw::gitCommit() + ")"));
    QApplication::setDesktopFileName(QStringLiteral("compression-workbench"));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Compress neural networks and see what each choice costs."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption openOption(QStringLiteral("open"),
                                        QStringLiteral("Model or project (.cwproj) to open: a path, a Hugging Face "
                                                       "folder, \"demo\", \"demo-resnet\" or \"demo-lm\"."),
                                        QStringLiteral("MODEL"));
    const QCommandLineOption dataOption(QStringLiteral("data"),
                                        QStringLiteral("Dataset for Evaluate: \"fashion-mnist\" or a .npy/.npz/.h5/IDX file; "
                                                       "for a language model, the text: \"brown:heldout\" or a text file."),
                                        QStringLiteral("DATA"));
    const QCommandLineOption limitOption(QStringLiteral("limit"),
                                         QStringLiteral("Evaluate at most N samples (a language model: N chunks; 0 = all)."),
                                         QStringLiteral("N"), QStringLiteral("0"));
    const QCommandLineOption evaluateOption(QStringLiteral("evaluate"), QStringLiteral("Evaluate right after loading."));
    const QCommandLineOption screenshotOption(QStringLiteral("screenshot"),
                                              QStringLiteral("Render the window to PNG once ready, then exit."),
                                              QStringLiteral("PNG"));
    const QCommandLineOption inspectOption(QStringLiteral("inspect"),
                                           QStringLiteral("Select LAYER (a language model's tensor) and show the Inspect tab."),
                                           QStringLiteral("LAYER"));
    const QCommandLineOption bitsOption(QStringLiteral("bits"), QStringLiteral("Inspect what-if bit-width: 2..8 or \"float\"."),
                                        QStringLiteral("N"));
    const QCommandLineOption pruneOption(QStringLiteral("prune"), QStringLiteral("Inspect what-if pruning ratio, 0..0.95."),
                                         QStringLiteral("RATIO"));
    parser.addOptions({openOption, dataOption, limitOption, evaluateOption, screenshotOption, inspectOption, bitsOption,
                       pruneOption});
    parser.addPositionalArgument(QStringLiteral("model"), QStringLiteral("Model to open (same as --open)."), QStringLiteral("[model]"));
    const QCommandLineOption sensitivityOption(
        QStringLiteral("sensitivity"),
        QStringLiteral("Run the sensitivity analysis after loading (on --limit samples, 500 if unset) and show it."));
    parser.addOption(sensitivityOption);
    const QCommandLineOption profileOption(QStringLiteral("profile"),
                                           QStringLiteral("Profile the model's latency after loading (Model → Profile "
                                                          "Latency…); the screenshot is of the result."));
    parser.addOption(profileOption);
    const QCommandLineOption recipeOption(QStringLiteral("recipe"),
                                          QStringLiteral("Load a compression recipe (JSON) and show the Compress tab."),
                                          QStringLiteral("R.json"));
    const QCommandLineOption compressOption(
        QStringLiteral("compress"),
        QStringLiteral("Run the recipe as a compression job after loading (on --limit samples, 1000 if unset)."));
    const QCommandLineOption distillOption(
        QStringLiteral("distill"),
        QStringLiteral("Run a distillation job with the Distill tab's settings after loading (validation on --limit "
                       "samples, 1000 if unset) and show it."));
    const QCommandLineOption compareOption(QStringLiteral("compare"),
                                           QStringLiteral("Show the Compare tab after loading (a project's variants; "
                                                          "a language model's: its Compress tab)."));
    const QCommandLineOption reportOption(QStringLiteral("report"),
                                          QStringLiteral("Write the report of the opened project (.pdf or .html), "
                                                         "then exit without showing a window."),
                                          QStringLiteral("OUT"));
    const QCommandLineOption sizeOption(QStringLiteral("window-size"),
                                        QStringLiteral("Window size of a --screenshot run (default 1400x900)."),
                                        QStringLiteral("WxH"), QStringLiteral("1400x900"));
    const QCommandLineOption generateOption(QStringLiteral("generate"),
                                            QStringLiteral("A language model: continue PROMPT in the Generate tab."),
                                            QStringLiteral("PROMPT"));
    const QCommandLineOption lmSensitivityOption(
        QStringLiteral("lm-sensitivity"),
        QStringLiteral("A language model: run the Sensitivity tab (its remembered settings; --data TEXT, --limit chunks)."));
    const QCommandLineOption lmCompressOption(
        QStringLiteral("lm-compress"),
        QStringLiteral("A language model: load each recipe (comma-separated, or the option repeated) into the Compress "
                       "tab and run it (--data TEXT, --limit chunks)."),
        QStringLiteral("RECIPE.json"));
    parser.addOptions({recipeOption, compressOption, distillOption, compareOption, reportOption, sizeOption, generateOption,
                       lmSensitivityOption, lmCompressOption});
    parser.process(app);

    QString modelSpec = parser.value(openOption);
    if (modelSpec.isEmpty() && !parser.positionalArguments().isEmpty())
        modelSpec = parser.positionalArguments().constFirst();
    const bool startupDemo = modelSpec.isEmpty();
    if (startupDemo)
        modelSpec = QStringLiteral("demo");
    bool limitOk = false;
    const qint64 limit = parser.value(limitOption).toLongLong(&limitOk);
    if (!limitOk || limit < 0) {
        std::fprintf(stderr, "compression-workbench: --limit expects a non-negative number\n");
        return 2;
    }
    int bits = -1;
    if (parser.isSet(bitsOption)) {
        bool ok = false;
        bits = parser.value(bitsOption) == QLatin1String("float") ? 0 : parser.value(bitsOption).toInt(&ok);
        if (bits != 0 && (!ok || bits < 2 || bits > 8)) {
            std::fprintf(stderr, "compression-workbench: --bits expects 2..8 or \"float\"\n");
            return 2;
        }
    }
    double prune = -1;
    if (parser.isSet(pruneOption)) {
        bool ok = false;
        prune = parser.value(pruneOption).toDouble(&ok);
        if (!ok || prune < 0 || prune > 0.95) {
            std::fprintf(stderr, "compression-workbench: --prune expects a ratio in [0, 0.95]\n");
            return 2;
        }
    }
    const QString inspectLayer = parser.value(inspectOption);
    const QString screenshot = parser.value(screenshotOption);
    const bool evaluate = parser.isSet(evaluateOption), profile = parser.isSet(profileOption);
    const bool batch = !screenshot.isEmpty() || parser.isSet(reportOption);

    cw::ui::MainWindow window;
    if (parser.isSet(dataOption) || startupDemo)
        window.setDataset(parser.isSet(dataOption) ? parser.value(dataOption) : QStringLiteral("fashion-mnist"), limit);
    else if (parser.isSet(limitOption))
        window.setDataset(window.datasetSpec(), limit);
    if (batch) {
        // A picture of a known size, independent of the geometry remembered from interactive sessions.
        window.setErrorDialogsEnabled(false);
        window.setRememberOpenedFiles(false);
        const QStringList size = parser.value(sizeOption).split(QLatin1Char('x'));
        const int w = size.value(0).toInt(), h = size.value(1).toInt();
        if (size.size() != 2 || w < 200 || h < 200) {
            std::fprintf(stderr, "compression-workbench: --window-size expects WIDTHxHEIGHT, such as 1280x720\n");
            return 2;
        }
        window.resize(w, h);
    }
    if (!parser.isSet(reportOption))
        window.show();

    const auto takeScreenshotOf = [&window, screenshot](QWidget *widget) {
        // Let queued replots and layout passes settle before rendering.
        QTimer::singleShot(150, &window, [widget, screenshot]() {
            const QPixmap pixmap = widget->grab();
            // QSaveFile: written to a temporary and renamed, so a failed save keeps an older screenshot.
            QSaveFile file(screenshot);
            const QByteArray suffix = QFileInfo(screenshot).suffix().toLatin1();
            if (pixmap.isNull() || !file.open(QIODevice::WriteOnly) ||
                !pixmap.save(&file, suffix.isEmpty() ? "PNG" : suffix.constData()) || !file.commit()) {
                fail(QStringLiteral("could not write screenshot %1").arg(screenshot));
                return;
            }
            std::printf("%s\n", qPrintable(QFileInfo(screenshot).absoluteFilePath()));
            QCoreApplication::exit(0);
        });
    };
    const auto takeScreenshot = [&window, takeScreenshotOf]() { takeScreenshotOf(&window); };

    const bool sensitivity = parser.isSet(sensitivityOption);
    QObject::connect(window.sensitivityView(), &cw::ui::SensitivityView::runFinished, &window, [&](bool ok) {
        if (!batch || !sensitivity)
            return;
        if (ok)
            takeScreenshot();
        else
            fail(window.sensitivityView()->statusText());
    });
    const QString recipePath = parser.value(recipeOption);
    const bool compress = parser.isSet(compressOption);
    QObject::connect(window.compressView(), &cw::ui::CompressView::jobFinished, &window, [&](bool ok) {
        if (!batch || !compress)
            return;
        if (ok)
            takeScreenshot();
        else
            fail(window.compressView()->statusText());
    });
    const bool distill = parser.isSet(distillOption);
    QObject::connect(window.distillView(), &cw::ui::DistillView::jobFinished, &window, [&](bool ok) {
        if (!batch || !distill)
            return;
        if (ok)
            takeScreenshot();
        else
            fail(window.distillView()->statusText());
    });
    const QString report = parser.value(reportOption);
    QObject::connect(&window, &cw::ui::MainWindow::modelLoaded, &window, [&]() {
        if (!report.isEmpty()) {
            if (!window.exportReport(report)) {
                fail(window.lastError());
                return;
            }
            std::printf("%s\n", qPrintable(QFileInfo(report).absoluteFilePath()));
            QCoreApplication::exit(0);
            return;
        }
        if (cw::ui::LmWorkspace *lm = window.languageModelView(); window.languageModel()) {
            if (!inspectLayer.isEmpty()) {
                QObject::connect(lm->inspectView(), &cw::ui::LmInspectView::statsFinished, &window,
                                 [&, inspectLayer](const QString &tensor, bool) {
                                     if (batch && tensor == inspectLayer)
                                         takeScreenshot();
                                 });
                if (!lm->showInspect(inspectLayer))
                    fail(QStringLiteral("no tensor named '%1' in the model").arg(inspectLayer));
                return;
            }
            // In a batch run, the evaluation's or generation's end takes the picture, or fails with its status.
            const auto screenshotWhenFinished = [&](cw::ui::LmJobView *view) {
                QObject::connect(view, &cw::ui::LmJobView::finished, &window, [&, view](bool ok) {
                    if (!batch)
                        return;
                    if (ok)
                        takeScreenshot();
                    else
                        fail(view->statusText());
                });
            };
            if (evaluate) {
                cw::ui::LmEvaluateView *view = lm->evaluateView();
                if (parser.isSet(dataOption))
                    view->setTextSpec(parser.value(dataOption));
                if (parser.isSet(limitOption))
                    view->setChunks(int(limit));
                screenshotWhenFinished(view);
                if (!lm->evaluate())
                    fail(QStringLiteral("could not start the evaluation: %1").arg(view->statusText()));
                return;
            }
            if (parser.isSet(lmSensitivityOption)) {
                cw::ui::LmSensitivityView *view = lm->sensitivityView();
                lm->setCurrentWidget(view);
                if (parser.isSet(dataOption))
                    view->setTextSpec(parser.value(dataOption));
                if (parser.isSet(limitOption))
                    view->setChunks(int(limit));
                screenshotWhenFinished(view);
                if (!view->run())
                    fail(QStringLiteral("could not start the sensitivity analysis: %1").arg(view->statusText()));
                return;
            }
            if (parser.isSet(lmCompressOption)) {
                cw::ui::LmCompressView *view = lm->compressView();
                lm->setCurrentWidget(view);
                if (parser.isSet(dataOption))
                    view->setEvaluationSpec(parser.value(dataOption));
                if (parser.isSet(limitOption))
                    view->setChunks(int(limit));
                auto recipes = std::make_shared<QStringList>();
                for (const QString &value : parser.values(lmCompressOption))
                    for (const QString &path : value.split(QLatin1Char(','), Qt::SkipEmptyParts))
                        *recipes << path;
                // One recipe after the other: each run's end starts the next; the last one's takes the picture.
                const auto next = std::make_shared<std::function<void()>>();
                *next = [&, view, recipes]() {
                    if (recipes->isEmpty()) {
                        if (batch)
                            takeScreenshot();
                        return;
                    }
                    const QString path = recipes->takeFirst();
                    if (!view->loadRecipeFile(path) || !view->run())
                        fail(QStringLiteral("could not run %1: %2").arg(path, view->statusText()));
                };
                QObject::connect(view, &cw::ui::LmJobView::finished, &window, [&, view, next](bool ok) {
                    if (!ok) {
                        if (batch)
                            fail(view->statusText());
                        return;
                    }
                    (*next)();
                });
                (*next)();
                return;
            }
            if (parser.isSet(generateOption)) {
                cw::ui::LmGenerateView *view = lm->generateView();
                lm->setCurrentWidget(view);
                view->setPrompt(parser.value(generateOption));
                screenshotWhenFinished(view);
                if (!view->generate())
                    fail(QStringLiteral("could not start the generation: %1").arg(view->statusText()));
                return;
            }
            if (batch) {
                // --compare: a language model's variants are on its Compress tab.
                if (parser.isSet(compareOption))
                    lm->setCurrentWidget(lm->compressView());
                else
                    lm->setCurrentIndex(0);
                takeScreenshot();
            }
            return;
        }
        if (distill) {
            cw::ui::DistillView *view = window.distillView();
            window.analysisTabs()->setCurrentWidget(view);
            if (auto *split = window.findChild<QSplitter *>(QStringLiteral("mainSplitter")))
                split->setSizes({360, qMax(600, window.width() - 360)});
            view->evalLimitSpin()->setValue(limit > 0 ? int(limit) : 1000);
            if (!view->distill())
                fail(QStringLiteral("could not start the distillation: %1").arg(view->statusText()));
            return;
        }
        if (!recipePath.isEmpty() || compress) {
            cw::ui::CompressView *view = window.compressView();
            window.analysisTabs()->setCurrentWidget(view);
            // The recipe table, its chart and the variants want most of the width: narrow the layer list.
            if (auto *split = window.findChild<QSplitter *>(QStringLiteral("mainSplitter")))
                split->setSizes({360, qMax(600, window.width() - 360)});
            if (!recipePath.isEmpty() && !view->loadRecipeFile(recipePath)) {
                fail(view->statusText());
                return;
            }
            if (compress) {
                view->setEvaluationLimit(limit > 0 ? limit : 1000);
                if (!view->compress())
                    fail(QStringLiteral("could not start the compression job: %1").arg(view->statusText()));
            } else if (batch) {
                takeScreenshot();
            }
            return;
        }
        if (parser.isSet(compareOption)) {
            window.analysisTabs()->setCurrentWidget(window.compareView());
            if (auto *split = window.findChild<QSplitter *>(QStringLiteral("mainSplitter")))
                split->setSizes({360, qMax(600, window.width() - 360)});
            if (batch)
                takeScreenshot();
            return;
        }
        if (sensitivity) {
            cw::ui::SensitivityView *view = window.sensitivityView();
            window.analysisTabs()->setCurrentWidget(view);
            view->limitSpin()->setValue(limit > 0 ? int(limit) : 500);
            if (!view->run())
                fail(QStringLiteral("could not start the sensitivity analysis: %1").arg(view->statusText()));
            return;
        }
        cw::ui::InspectView *inspect = window.inspectView();
        if (bits >= 0)
            inspect->setBits(bits);
        if (prune >= 0)
            inspect->setPruneRatio(prune);
        if (!inspectLayer.isEmpty() && !window.showInspect(inspectLayer)) {
            fail(QStringLiteral("no layer named '%1' in the model").arg(inspectLayer));
            return;
        }
        if (batch && !evaluate && inspect->activationJob()) {
            // The activation histogram belongs in the picture: wait for it (a failure shows as a note).
            QObject::connect(inspect, &cw::ui::InspectView::activationsFinished, &window, takeScreenshot);
            return;
        }
        if (profile) {
            if (!window.profile())
                fail(QStringLiteral("could not start profiling"));
        } else if (evaluate) {
            if (!window.evaluate())
                fail(QStringLiteral("could not start the evaluation"));
        } else if (batch) {
            takeScreenshot();
        }
    });
    if (batch) {
        QObject::connect(&window, &cw::ui::MainWindow::modelLoadFailed, &window, [](const QString &error) { fail(error); });
        QObject::connect(&window, &cw::ui::MainWindow::profileFinished, &window, [&]() {
            if (auto *dialog = window.findChild<cw::ui::ProfileDialog *>())
                takeScreenshotOf(dialog);
            else
                fail(window.lastError().isEmpty() ? QStringLiteral("profiling did not finish") : window.lastError());
        });
        QObject::connect(&window, &cw::ui::MainWindow::evaluationFinished, &window, [&]() {
            if (!window.evaluation())
                fail(window.lastError().isEmpty() ? QStringLiteral("evaluation did not finish") : window.lastError());
            else
                takeScreenshot();
        });
    }

    if (startupDemo && !batch) {
        const QString last = window.lastProjectToReopen();
        window.openStartupModel(last.isEmpty() ? modelSpec : last);
    }
    else
        window.openModel(modelSpec);
    return app.exec();
}
