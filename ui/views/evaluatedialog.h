// EvaluateDialog: picks the dataset (the built-in Fashion-MNIST splits, recently used files and folders,
// "Image Folder…" for a folder of images, or "Browse…" for a .npy / .npz / .h5 / IDX .gz file) and a sample
// limit for Model → Evaluate….
#pragma once

#include <QDialog>
#include <QStringList>

class QComboBox;
class QSpinBox;

namespace cw::ui {

class EvaluateDialog : public QDialog {
    Q_OBJECT
public:
    EvaluateDialog(const QString &datasetSpec, qint64 limit, const QStringList &recentDatasets, const QString &browseDir,
                   QWidget *parent = nullptr);

    QString datasetSpec() const;
    qint64 limit() const;
    QString browseDir() const { return m_browseDir; }

    // "Fashion-MNIST test set" for "fashion-mnist", the file name for a path.
    static QString displayName(const QString &datasetSpec);
    static QString fileFilter();

private:
    void onDatasetActivated(int index);
    int addDataset(const QString &spec);

    QComboBox *m_dataset = nullptr;
    QSpinBox *m_limit = nullptr;
    QString m_browseDir;
    int m_previousIndex = 0;
};

} // namespace cw::ui
