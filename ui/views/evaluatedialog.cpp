#include "ui/views/evaluatedialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSettings>
#include <QVBoxLayout>
#include <QSpinBox>

#include <algorithm>

namespace cw::ui {

namespace {
constexpr int kMaxImageSide = 16384;
// Item data of the "Image Folder…" and "Browse…" entries, never valid specs.
const char *const kBrowseFolder = "\x01folder";
const char *const kBrowse = "\x01browse";
}

cw::Preprocess PreprocessChoice::preprocess() const
{
    cw::Preprocess pre;
    cw::setNormalization(pre, normalization);
    pre.layout = layout;
    pre.imageHeight = cropHeight;
    pre.imageWidth = cropWidth;
    pre.resizeShorter = resizeShorter;
    return pre;
}

PreprocessChoice PreprocessChoice::load(const QSettings &settings)
{
    PreprocessChoice c;
    const int norm = settings.value(QStringLiteral("evaluate/normalize"), 0).toInt();
    const int layout = settings.value(QStringLiteral("evaluate/layout"), 0).toInt();
    if (norm >= 0 && norm <= int(cw::Normalization::ImageNet))
        c.normalization = cw::Normalization(norm);
    if (layout >= 0 && layout <= int(cw::Preprocess::Layout::NHWC))
        c.layout = cw::Preprocess::Layout(layout);
    const auto size = [&settings](const char *key) {
        return std::clamp(settings.value(QLatin1String(key), 0).toInt(), 0, kMaxImageSide);
    };
    c.cropHeight = size("evaluate/cropHeight");
    c.cropWidth = size("evaluate/cropWidth");
    c.resizeShorter = size("evaluate/resize");
    return c;
}

void PreprocessChoice::save(QSettings &settings) const
{
    settings.setValue(QStringLiteral("evaluate/normalize"), int(normalization));
    settings.setValue(QStringLiteral("evaluate/layout"), int(layout));
    settings.setValue(QStringLiteral("evaluate/cropHeight"), cropHeight);
    settings.setValue(QStringLiteral("evaluate/cropWidth"), cropWidth);
    settings.setValue(QStringLiteral("evaluate/resize"), resizeShorter);
}

EvaluateDialog::EvaluateDialog(const QString &datasetSpec, qint64 limit, const PreprocessChoice &preprocess,
                               const QStringList &recentDatasets, const QString &browseDir, QWidget *parent)
    : QDialog(parent), m_dataset(new QComboBox(this)), m_limit(new QSpinBox(this)), m_browseDir(browseDir)
{
    setWindowTitle(tr("Evaluate Model"));
    m_dataset->setObjectName(QStringLiteral("datasetCombo"));
    m_dataset->setMinimumContentsLength(32);
    m_dataset->addItem(displayName(QStringLiteral("fashion-mnist")), QStringLiteral("fashion-mnist"));
    m_dataset->addItem(displayName(QStringLiteral("fashion-mnist:train")), QStringLiteral("fashion-mnist:train"));
    for (const QString &spec : recentDatasets)
        addDataset(spec);
    m_dataset->insertSeparator(m_dataset->count());
    m_dataset->addItem(tr("Image Folder…"), QString::fromLatin1(kBrowseFolder));
    m_dataset->setItemData(m_dataset->count() - 1,
                           tr("A folder of PNG / JPEG images: one sub-folder per class, or the images themselves"),
                           Qt::ToolTipRole);
    m_dataset->addItem(tr("Browse…"), QString::fromLatin1(kBrowse));
    m_dataset->setCurrentIndex(std::max(0, addDataset(datasetSpec)));
    m_previousIndex = m_dataset->currentIndex();
    connect(m_dataset, &QComboBox::activated, this, &EvaluateDialog::onDatasetActivated);

    m_limit->setObjectName(QStringLiteral("limitSpin"));
    m_limit->setRange(0, 100'000'000);
    m_limit->setSingleStep(1000);
    m_limit->setSpecialValueText(tr("All samples"));
    m_limit->setValue(int(std::min<qint64>(limit, m_limit->maximum())));
    m_limit->setToolTip(tr("Evaluate only the first N samples (0 = all)"));

    m_normalize = new QComboBox(this);
    m_normalize->setObjectName(QStringLiteral("normalizeCombo"));
    m_normalize->addItem(tr("[0, 1] (pixels / 255)"), int(cw::Normalization::Unit));
    m_normalize->addItem(tr("[-1, 1]"), int(cw::Normalization::Symmetric));
    m_normalize->addItem(tr("ImageNet mean and std"), int(cw::Normalization::ImageNet));
    m_normalize->setCurrentIndex(std::max(0, m_normalize->findData(int(preprocess.normalization))));
    m_normalize->setToolTip(tr("How 8-bit pixels and integer arrays are scaled (float arrays are used as stored, "
                               "then normalised)"));
    m_layout = new QComboBox(this);
    m_layout->setObjectName(QStringLiteral("layoutCombo"));
    m_layout->addItem(tr("Auto"), int(cw::Preprocess::Layout::Auto));
    m_layout->addItem(tr("NCHW"), int(cw::Preprocess::Layout::NCHW));
    m_layout->addItem(tr("NHWC"), int(cw::Preprocess::Layout::NHWC));
    m_layout->setCurrentIndex(std::max(0, m_layout->findData(int(preprocess.layout))));
    m_layout->setToolTip(tr("Arrays: the layout they are stored in (the model gets NCHW). Image folders: the layout "
                            "the model takes."));
    const auto sizeSpin = [this](const char *name, int value, const QString &special, const QString &tip) {
        auto *spin = new QSpinBox(this);
        spin->setObjectName(QLatin1String(name));
        spin->setRange(0, kMaxImageSide);
        spin->setSpecialValueText(special);
        spin->setSuffix(tr(" px"));
        spin->setValue(value);
        spin->setToolTip(tip);
        return spin;
    };
    m_cropHeight = sizeSpin("cropHeightSpin", preprocess.cropHeight, tr("model input"),
                            tr("Image folders: the height of the centre crop (model input: its declared or given height)"));
    m_cropWidth = sizeSpin("cropWidthSpin", preprocess.cropWidth, tr("model input"),
                           tr("Image folders: the width of the centre crop (model input: its declared or given width)"));
    m_resize = sizeSpin("resizeSpin", preprocess.resizeShorter, tr("crop × 256 / 224"),
                        tr("Image folders: the shorter side is resized to this before the centre crop"));
    auto *crop = new QHBoxLayout;
    crop->addWidget(m_cropHeight);
    crop->addWidget(new QLabel(QStringLiteral("×"), this));
    crop->addWidget(m_cropWidth);

    auto *form = new QFormLayout;
    form->addRow(tr("&Dataset:"), m_dataset);
    form->addRow(tr("Sample &limit:"), m_limit);
    auto *pre = new QGroupBox(tr("Preprocessing"), this);
    auto *preForm = new QFormLayout(pre);
    preForm->addRow(tr("&Normalize:"), m_normalize);
    preForm->addRow(tr("La&yout:"), m_layout);
    auto *cropLabel = new QLabel(tr("&Crop (H × W):"), pre);
    cropLabel->setBuddy(m_cropHeight);
    preForm->addRow(cropLabel, crop);
    preForm->addRow(tr("&Resize shorter side:"), m_resize);
    auto *hint = new QLabel(tr("Image folders are resized, then centre-cropped to the model's input. The dataset and "
                               "its preprocessing serve every job (statistics, sensitivity, compression). Evaluation "
                               "needs labels."),
                            this);
    hint->setWordWrap(true);
    hint->setStyleSheet(QStringLiteral("color: palette(mid)"));

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Evaluate"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    QPushButton *cluster = buttons->addButton(tr("Run on &Cluster…"), QDialogButtonBox::ActionRole);
    cluster->setObjectName(QStringLiteral("evaluateCluster"));
    cluster->setToolTip(tr("Write this evaluation as a plan and a Slurm job array (its samples in shards) into a "
                           "folder; File → Import Results brings the parts back"));
    connect(cluster, &QPushButton::clicked, this, [this]() {
        m_clusterRequested = true;
        accept();
    });

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(pre);
    layout->addWidget(hint);
    layout->addWidget(buttons);
}

QString EvaluateDialog::displayName(const QString &spec)
{
    if (spec == QLatin1String("fashion-mnist"))
        return tr("Fashion-MNIST test set");
    if (spec == QLatin1String("fashion-mnist:train"))
        return tr("Fashion-MNIST training set");
    return QFileInfo(spec).fileName();
}

QString EvaluateDialog::fileFilter()
{
    return tr("Datasets (*.npy *.npz *.h5 *.hdf5 *.gz *-ubyte);;All files (*)");
}

int EvaluateDialog::addDataset(const QString &spec)
{
    if (spec.isEmpty())
        return -1;
    const int existing = m_dataset->findData(spec);
    if (existing >= 0)
        return existing;
    // Files and folders go after the built-in sets and before the separator / "Image Folder…" / "Browse…".
    int at = m_dataset->count();
    const int browse = m_dataset->findData(QString::fromLatin1(kBrowseFolder));
    if (browse >= 0)
        at = browse - 1;
    m_dataset->insertItem(at, displayName(spec), spec);
    m_dataset->setItemData(at, spec, Qt::ToolTipRole);
    return at;
}

void EvaluateDialog::onDatasetActivated(int index)
{
    const QString data = m_dataset->itemData(index).toString();
    const bool folder = data == QLatin1String(kBrowseFolder);
    if (!folder && data != QLatin1String(kBrowse)) {
        m_previousIndex = index;
        return;
    }
    const QString file = folder ? QFileDialog::getExistingDirectory(this, tr("Choose Image Folder"), m_browseDir)
                                : QFileDialog::getOpenFileName(this, tr("Choose Dataset"), m_browseDir, fileFilter());
    if (file.isEmpty()) {
        m_dataset->setCurrentIndex(m_previousIndex);
        return;
    }
    m_browseDir = folder ? file : QFileInfo(file).absolutePath();
    const int at = addDataset(file);
    m_dataset->setCurrentIndex(at);
    m_previousIndex = at;
}

QString EvaluateDialog::datasetSpec() const
{
    return m_dataset->currentData().toString();
}

qint64 EvaluateDialog::limit() const
{
    return m_limit->value();
}

PreprocessChoice EvaluateDialog::preprocess() const
{
    PreprocessChoice c;
    c.normalization = cw::Normalization(m_normalize->currentData().toInt());
    c.layout = cw::Preprocess::Layout(m_layout->currentData().toInt());
    c.cropHeight = m_cropHeight->value();
    c.cropWidth = m_cropWidth->value();
    c.resizeShorter = m_resize->value();
    return c;
}

} // namespace cw::ui
