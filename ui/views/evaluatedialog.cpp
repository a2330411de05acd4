#include "ui/views/evaluatedialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <QSpinBox>

namespace cw::ui {

namespace {
// Item data of the "Image Folder…" and "Browse…" entries, never valid specs.
const char *const kBrowseFolder = "\x01folder";
const char *const kBrowse = "\x01browse";
}

EvaluateDialog::EvaluateDialog(const QString &datasetSpec, qint64 limit, const QStringList &recentDatasets,
                               const QString &browseDir, QWidget *parent)
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

    auto *form = new QFormLayout;
    form->addRow(tr("&Dataset:"), m_dataset);
    form->addRow(tr("Sample &limit:"), m_limit);
    auto *hint = new QLabel(tr("Features are scaled to [0, 1]; arrays are read as NCHW; image folders are resized and "
                               "centre-cropped to the model's input. Labels are required."),
                            this);
    hint->setWordWrap(true);
    hint->setStyleSheet(QStringLiteral("color: palette(mid)"));

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Evaluate"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
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

} // namespace cw::ui
